"""SMS encoding facts: which texts fit GSM-7, how long a text is in its encoding, one segment's size.

An SMS is sent in GSM-7 when every character is in the GSM 03.38 alphabet (basic set: 1 unit,
extension set: 2 units, escape + character); one segment holds 160 units. Any other character
switches the whole message to UCS-2, counted in UTF-16 code units, 70 to a segment. The merchant
policy (guardrails.policy.SmsPolicy) says how many units one message may use in each encoding.
"""

from __future__ import annotations

import unicodedata

GSM7_SEGMENT_UNITS = 160
UCS2_SEGMENT_UNITS = 70

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€")


def is_gsm7(text: str) -> bool:
    """Whether `text` can be sent in GSM-7."""
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def sms_length(text: str) -> tuple[int, bool]:
    """(length in encoding units, whether GSM-7 suffices). UCS-2 counts UTF-16 code units."""
    if is_gsm7(text):
        return sum(2 if char in GSM7_EXTENSION else 1 for char in text), True
    return len(text.encode("utf-16-le")) // 2, False


def sms_segments(length: int, gsm: bool) -> int:
    """Parts a carrier sends for `length` units: one up to 160 (GSM-7) / 70 (UCS-2), else 153 / 67 per
    part (each part gives up room to the concatenation header)."""
    single, part = (GSM7_SEGMENT_UNITS, 153) if gsm else (UCS2_SEGMENT_UNITS, 67)
    if length <= single:
        return 1
    return -(-length // part)


def fold_to_gsm7(text: str) -> str:
    """`text` with accents folded where GSM-7 lacks the accented letter ("Zoë" -> "Zoe") and every
    character GSM-7 cannot carry dropped ("王芳" -> "")."""
    if is_gsm7(text):
        return text
    folded = []
    for char in text:
        if char in GSM7_BASIC:  # keep the accented letters GSM-7 has (é, ñ, ü...)
            folded.append(char)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        folded.append("".join(c for c in base if c in GSM7_BASIC))
    return "".join(folded)
