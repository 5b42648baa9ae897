"""Which menu items a question names ("the pad thai", "anything with truffle", "wine").

Plain word matching against the catalog's own words (item names, categories, subcategories), with
accents and plurals folded. Deterministic and exact: an item is matched only if a word of the
question is a word of the item, so "has she ever had truffle?" finds the Truffle Parmesan Fries and
nothing that merely sounds similar (the vector search of purchases handles the fuzzy side).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from core.allergens import normalize_allergen
from core.schemas import CatalogFact

# Words too generic to identify a dish (they appear in questions and in many item names).
GENERIC_WORDS = frozenset(
    """a an and the with of or to in on at for by from her his their she he they them this that guest guests
    ever had have has did does do order ordered orders get got like likes liked any anything something some
    try tried today usual usually what which when how many much times time new house fresh glass bottle draft
    kid kids meal side starter main dessert drink warm wild seasonal classic special bowl plate board trio
    half dozen oz can could would should will she's he's is are was were be been eat eaten drank drunk""".split()
)
_WORD_RE = re.compile(r"[a-z0-9]+")


def fold(text: str) -> list[str]:
    """Lower-case ASCII words with a plural "s" folded ("Crème Brûlée" -> ["creme", "brulee"])."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace("_", " ")
    words = _WORD_RE.findall(ascii_text)
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words]


def _item_words(item: CatalogFact) -> set[str]:
    words = set(fold(item.name)) | set(fold(item.category)) | set(fold(item.subcategory or ""))
    return {w for w in words if w not in GENERIC_WORDS and len(w) > 2}


def items_named(text: str, catalog: Iterable[CatalogFact], *, limit: int = 8) -> list[CatalogFact]:
    """Active items sharing the most specific words with `text` (ties kept, by sku)."""
    asked = {w for w in fold(text) if w not in GENERIC_WORDS and len(w) > 2}
    if not asked:
        return []
    scored: list[tuple[int, str, CatalogFact]] = []
    for item in catalog:
        if not item.active:
            continue
        shared = len(asked & _item_words(item))
        if shared:
            scored.append((shared, item.sku, item))
    if not scored:
        return []
    # Only the best matches: "truffle fries" names the Truffle Parmesan Fries, not every item with fries.
    best = max(score for score, _, _ in scored)
    return [item for score, _, item in sorted(scored, key=lambda e: e[1]) if score == best][:limit]


def items_with_allergens(
    allergens: frozenset[str], catalog: Iterable[CatalogFact], *, limit: int = 12
) -> list[CatalogFact]:
    """Active items listing any of `allergens` (canonical names) among their catalog allergens."""
    found = [item for item in catalog if item.active and allergens & {normalize_allergen(a) for a in item.allergens}]
    return sorted(found, key=lambda i: i.sku)[:limit]
