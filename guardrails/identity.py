"""Customer identity helpers that need no NLP model: pseudonyms and send-time re-identification.

A model only ever sees the pseudonym; the sending tool alone turns approved copy back into a
personal message, at send time, with `reidentify`.
"""

from __future__ import annotations

import re
from typing import Protocol

from db.pseudonyms import make_pseudonym

# The pseudonym scheme lives in db.pseudonyms (the seed and live ingest mint them); re-exported here.
pseudonym_for = make_pseudonym


class ContactLike(Protocol):
    given_name: str | None


_NAME_CLEAN_RE = re.compile(r"[^\w' -]", re.UNICODE)


def reidentify(template: str, *, contact: ContactLike | None, promo_code: str | None = None) -> str:
    """Fill the copy's placeholders at send time. Call ONLY from the sending tool.

    The first word of the guest's given name (cleaned of markup, at most 20 characters) replaces
    {first_name}; without one the greeting reads "there". Other braces are left untouched.
    """
    given = (contact.given_name if contact is not None else None) or ""
    first = _NAME_CLEAN_RE.sub("", given).strip().split(" ")[0][:20] if given.strip() else ""
    filled = template.replace("{first_name}", first or "there")
    if promo_code is not None:
        filled = filled.replace("{promo_code}", promo_code)
    return filled
