"""Cheap regex pre-scan for raw PII, kept free of Presidio so the copy rule stays sub-millisecond.

It answers "does this text carry something that looks like contact data?" and returns labels, never
the matched values (the labels go into audit evidence). It deliberately over-reports: a false alarm
blocks one message, a miss leaks a guest's data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

# Linear time: a match may only start where a run of local-part characters starts (the lookbehind), and
# the possessive `++` never gives characters back, so a long run without "@" is walked once, not once
# per starting position (the old pattern took seconds on a 70,000-character word).
EMAIL_RE = re.compile(r"(?<![\w.+'-])[\w.+'-]++@[\w-]++(?:\.[\w-]++)+")
# A run of digits with phone/card separators; judged by how many digits it holds.
_DIGIT_RUN_RE = re.compile(r"(?<![\w])\+?\(?\d[\d \t().-]{5,}\d(?![\w])")
_STREET_RE = re.compile(
    r"\b\d{1,6}\s+(?:[A-Z][A-Za-z]+\.?\s+){1,3}"
    r"(?:St|Street|Ave|Avenue|Rd|Road|Blvd|Boulevard|Ln|Lane|Dr|Drive|Ct|Court|Way|Pl|Place|Ter|Terrace|"
    r"Hwy|Highway|Pkwy|Parkway|Sq|Square)\b"
)
# Greeting word in any case, then a capitalised word: "Hi Maria", "thanks again, Maria" is caught
# by the known-values check when the caller passes the guest's names.
_GREETING_RE = re.compile(
    r"\b(?i:hi|hey|hello|dear|howdy|thanks|thank you|good morning|good afternoon|good evening)"
    r"[ \t,]+([A-Z][a-z]+)\b"
)
# Words that may follow a greeting without being somebody's name.
_GREETING_NON_NAMES = frozenset(
    {"there", "friend", "friends", "again", "everyone", "all", "folks", "guest", "guests", "neighbor",
     "neighbour", "foodie", "team", "you", "member", "valued", "loyal", "regular", "from", "for", "and",
     "welcome", "back", "so", "to", "it", "we", "our"}
)
_CARD_MIN_DIGITS, _CARD_MAX_DIGITS = 13, 19
_PHONE_MIN_DIGITS = 9


def luhn_valid(digits: str) -> bool:
    """Luhn checksum, to tell payment-card numbers from other long digit runs."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _digits(text: str) -> str:
    return "".join(char for char in text if char.isdigit())


@lru_cache(maxsize=1024)
def _known_value_re(value: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(value) + r"(?!\w)", re.IGNORECASE)


def contains_raw_pii(text: str, known_values: Iterable[str] = ()) -> list[str]:
    """Labels of the raw-PII kinds found in `text` (empty list = clean).

    Labels: email, phone, card_number, street_address, greeting_name (a real word greeted instead of
    the {first_name} placeholder), known_value (one of `known_values`, e.g. the guest's own name,
    email or phone, matched case-insensitively on word boundaries; phones by their digits).
    """
    found: list[str] = []
    if EMAIL_RE.search(text):
        found.append("email")
    for match in _DIGIT_RUN_RE.finditer(text):
        digits = _digits(match.group(0))
        if _CARD_MIN_DIGITS <= len(digits) <= _CARD_MAX_DIGITS and luhn_valid(digits):
            label = "card_number"
        elif len(digits) >= _PHONE_MIN_DIGITS:
            label = "phone"
        else:
            continue
        if label not in found:
            found.append(label)
    if _STREET_RE.search(text):
        found.append("street_address")
    for match in _GREETING_RE.finditer(text):
        if match.group(1).lower() not in _GREETING_NON_NAMES:
            found.append("greeting_name")
            break
    text_digits: str | None = None
    lowered = text.lower() if text.isascii() else None
    for value in known_values:
        value = value.strip()
        if len(value) < 2:
            continue
        value_digits = _digits(value)
        if len(value_digits) >= 7:
            if text_digits is None:
                text_digits = _digits(text)
            if value_digits[-10:] in text_digits:
                found.append("known_value")
                break
            continue
        # ASCII text and value: a case-insensitive match needs the value as a substring of the lowered text
        # (no other character folds to an ASCII one there), so most values skip compiling their pattern.
        if lowered is not None and value.isascii() and value.lower() not in lowered:
            continue
        if _known_value_re(value).search(text):
            found.append("known_value")
            break
    return found
