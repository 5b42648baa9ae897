"""Allergies as recorded, in words: the one place the three states are phrased and recognised.

The record has three states and they must never blur:
- unknown (`None`): the guest never told us. NOT "no allergies".
- none recorded (`[]`): the profile says none were declared. Still "ask the guest".
- a list: exactly what was recorded, nothing added, nothing dropped.

The offline answerer phrases them with `allergy_statement`; the verify node uses `allergens_in`
and the claim patterns here to check any answer (model or offline) against the record. Allergen
names are compared in the guardrails' canonical vocabulary (`normalize_allergen`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from core.allergens import normalize_allergen

UNKNOWN = "unknown"
NONE_RECORDED = "none_recorded"
RECORDED = "recorded"

# Words that make a sentence a statement about the guest's allergies or diet. "Allergens" is left
# out on purpose: it describes menu items ("Pad Thai: allergens peanuts, soy"), which are catalog facts.
ALLERGY_TOPIC_RE = re.compile(
    r"\b(allerg(y|ies|ic)|intoleran\w*|celiac|coeliac|anaphyla\w*|epipen|dietary|diet)\b", re.IGNORECASE
)
# Claims about the guest's diet that no record in this system can back (there is no diet field).
DIETARY_CLAIM_RE = re.compile(
    r"\b(vegan|vegetarian|pescatarian|kosher|halal|keto|(gluten|nut|dairy|lactose|egg|soy|shellfish)[- ]free)\b",
    re.IGNORECASE,
)
# "No allergies" in any wording: allowed only as "none recorded" and only when the record says so.
NO_ALLERGY_CLAIM_RE = re.compile(
    r"\b(no (known |listed |declared |recorded )?(food )?allerg\w*|not allergic|allerg\w*[- ]free|"
    r"no (dietary|food) (restrictions?|needs|issues)|(can|could) eat anything|safe (for|to serve) (her|him|them)|"
    r"doesn'?t have (any )?allerg\w*|has no allerg\w*|without (any )?allerg\w*)\b",
    re.IGNORECASE,
)
RECORDED_QUALIFIER_RE = re.compile(r"\b(recorded|on record|on file|declared|on the profile)\b", re.IGNORECASE)
UNKNOWN_MARKER_RE = re.compile(r"\b(unknown|not known|never (been )?(recorded|told|declared))\b", re.IGNORECASE)
_WORD_RE = re.compile(r"[a-z]+")


def allergy_status(allergies: list[str] | None) -> str:
    if allergies is None:
        return UNKNOWN
    return RECORDED if allergies else NONE_RECORDED


def display_allergen(name: str) -> str:
    """An allergen as recorded, readable ("tree_nuts" -> "tree nuts")."""
    return " ".join(name.replace("_", " ").replace("-", " ").split()).lower()


def allergy_statement(allergies: list[str] | None) -> str:
    """The record in one sentence, in the wording that keeps the three states apart."""
    status = allergy_status(allergies)
    if status == UNKNOWN:
        return (
            "Allergies: unknown. The guest has never told us, so nothing is recorded; "
            "ask before ordering and do not assume there are none."
        )
    if status == NONE_RECORDED:
        return "No allergies recorded: the guest declared none on the profile. Still ask the guest before ordering."
    names = ", ".join(display_allergen(a) for a in allergies or [])
    return f"Recorded allergies: {names}. Confirm with the guest before ordering."


def allergy_quote(allergies: list[str] | None) -> str:
    """The short form used as the fact's quote."""
    status = allergy_status(allergies)
    if status == UNKNOWN:
        return "allergies unknown (never recorded)"
    if status == NONE_RECORDED:
        return "no allergies recorded (guest declared none)"
    return "recorded allergies: " + ", ".join(display_allergen(a) for a in allergies or [])


def canonical(allergies: Iterable[str]) -> frozenset[str]:
    return frozenset(normalize_allergen(a) for a in allergies)


def allergens_in(text: str, vocabulary: Iterable[str]) -> frozenset[str]:
    """Canonical allergens named in `text` (single words and two-word names such as "tree nuts")."""
    vocab = canonical(vocabulary)
    words = _WORD_RE.findall(text.lower())
    found: set[str] = set()
    for i, word in enumerate(words):
        for candidate in (word, f"{word} {words[i + 1]}" if i + 1 < len(words) else None):
            if candidate is None:
                continue
            name = normalize_allergen(candidate)
            if name in vocab:
                found.add(name)
    return frozenset(found)
