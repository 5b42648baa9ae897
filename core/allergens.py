"""The one allergen vocabulary: canonical names and the spellings folded into them.

Canonical names are the US "top 9" in snake_case (`tree_nuts` with an underscore). The sandbox menu
tags its items with them, the merchant policy lists them, and every rule compares allergens only
after `normalize_allergen`, so a guest who says "dairy" and a menu that says "milk" still match.
Names outside the vocabulary (say "mustard" or "celery" for an EU merchant) pass through in the same
lower-case snake_case form and still compare equal to themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

MILK = "milk"
EGGS = "eggs"
FISH = "fish"
SHELLFISH = "shellfish"
TREE_NUTS = "tree_nuts"
PEANUTS = "peanuts"
WHEAT = "wheat"
SOY = "soy"
SESAME = "sesame"

TOP9_ALLERGENS: tuple[str, ...] = (MILK, EGGS, FISH, SHELLFISH, TREE_NUTS, PEANUTS, WHEAT, SOY, SESAME)

# Common spellings of the top 9, keyed in the normalized form (lower case, `_` for spaces and hyphens).
SYNONYMS: dict[str, str] = {
    "dairy": MILK,
    "lactose": MILK,
    "egg": EGGS,
    "tree_nut": TREE_NUTS,
    "nuts": TREE_NUTS,
    "nut": TREE_NUTS,
    "peanut": PEANUTS,
    "crustacean": SHELLFISH,
    "crustaceans": SHELLFISH,
    "crustacean_shellfish": SHELLFISH,
    "shellfish_crustacean": SHELLFISH,
    "gluten": WHEAT,
    "soya": SOY,
    "soybean": SOY,
    "soybeans": SOY,
    "sesame_seeds": SESAME,
}


@lru_cache(maxsize=1024)
def normalize_allergen(name: str) -> str:
    """Canonical allergen name: lower case, `_` for spaces and hyphens, common synonyms folded."""
    key = "_".join(name.strip().lower().replace("-", " ").split())
    return SYNONYMS.get(key, key)


def normalize_allergens(names: Iterable[str]) -> frozenset[str]:
    """The canonical names of `names`, as a set (empty names dropped)."""
    return _normalized(names if isinstance(names, tuple) else tuple(names))


@lru_cache(maxsize=4096)
def _normalized(names: tuple[str, ...]) -> frozenset[str]:
    # Cached by the names themselves: a campaign asks about the same few item and guest lists thousands of times.
    return frozenset(found for found in (normalize_allergen(name) for name in names) if found)


def allergen_words() -> tuple[str, ...]:
    """Every spelling of the vocabulary as words ("tree nuts", "dairy", ...), longest first, for copy
    scanning."""
    spellings = set(TOP9_ALLERGENS) | set(SYNONYMS)
    return tuple(sorted((s.replace("_", " ") for s in spellings), key=lambda w: (-len(w), w)))
