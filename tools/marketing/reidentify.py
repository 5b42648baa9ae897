"""Send-time re-identification: the one place approved copy becomes a personal message.

Copy is drafted and checked with the pseudonymous placeholders `{first_name}` and `{promo_code}`;
only the sender fills them, from `customer_contact`, right before the provider call. The filled text
must still fit what the policy allows (for SMS: one segment's worth, see guardrails.policy.SmsPolicy,
measured in GSM-7 or, when the name needs it, UCS-2). The promo code and every word of the approved
copy (the opt-out text included) are kept; only the name gives way, in this order:

1. the first word of the given name, cleaned of anything but letters, marks, `'` and `-`;
2. the same name folded to GSM-7 ("Zoë" -> "Zoe"), so a single accent does not turn a 160-unit SMS
   into a 70-unit UCS-2 one;
3. the first part of a hyphenated name ("Mary-Kate" -> "Mary");
4. the greeting word "there" ("Hi there,");
5. no name at all.

A name is never cut mid-word: "Christopher" for "Christopherson" would be somebody else's name. When
even the nameless text does not fit, nothing is sent (`None`): the copy itself is over the limit.
Plain replacement of the two known placeholders only: copy is untrusted text and is never evaluated
as a format string.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from core.sms import fold_to_gsm7

FIRST_NAME_PLACEHOLDER = "{first_name}"
PROMO_CODE_PLACEHOLDER = "{promo_code}"
# Used when the guest's first name is unknown or does not fit: "Hi {first_name}," -> "Hi there,".
FIRST_NAME_FALLBACK = "there"
MAX_NAME_CHARS = 40


def _letters_only(word: str) -> str:
    """Letters, combining marks, apostrophes and hyphens of `word`: no markup, digits or controls."""
    kept = "".join(ch for ch in word if unicodedata.category(ch)[0] in "LM" or ch in "'-")
    return kept.strip("'-")[:MAX_NAME_CHARS]


def name_candidates(given_name: str | None) -> list[str]:
    """The names to try for {first_name}, best first, ending with the fallback and the empty name."""
    words = (given_name or "").split()
    first = _letters_only(unicodedata.normalize("NFC", words[0])) if words else ""
    candidates: list[str] = []
    for name in (first, fold_to_gsm7(first)):
        for form in (name, name.split("-")[0]):
            form = form.strip("'-")
            if form and form not in candidates:
                candidates.append(form)
    return [*candidates, FIRST_NAME_FALLBACK, ""]


def _without_name(text: str) -> str:
    """The copy with an empty name, tidied: "Hi {first_name}, x" -> "Hi, x"; "{first_name}, x" -> "x"."""
    filled = text.replace(FIRST_NAME_PLACEHOLDER, "")
    filled = re.sub(r"[ \t]+([,.!?;:])", r"\1", filled)
    filled = re.sub(r"^[\s,.!?;:]+", "", filled)
    return re.sub(r"[ \t]{2,}", " ", filled)


def reidentify(
    text: str,
    *,
    given_name: str | None,
    promo_code: str | None,
    fits: Callable[[str], bool] = lambda _filled: True,
) -> str | None:
    """`text` with {promo_code} and the best {first_name} for which `fits(filled)` holds; None when no
    name (not even none) makes it fit. `promo_code=None` leaves that placeholder as it is."""
    with_code = text if promo_code is None else text.replace(PROMO_CODE_PLACEHOLDER, promo_code)
    if FIRST_NAME_PLACEHOLDER not in with_code:
        return with_code if fits(with_code) else None
    for name in name_candidates(given_name):
        filled = with_code.replace(FIRST_NAME_PLACEHOLDER, name) if name else _without_name(with_code)
        if fits(filled):
            return filled
    return None
