"""An offer's terms in words, written one way everywhere: the review pages, the guardrails' reasons and
the associate's facts all say "15% off SALMON", "$2.50 off SALMON", "a free SALMON", "15% off any
desserts", "1,000 bonus points".

Money is dollars with cents and thousands separators ("$1,234.50"), a percentage is written as short as
it is exact ("15%", "12.5%"). Callers decide only what is theirs: which name stands for the item (the
sku, the catalog name, or a copy-safe name in guest copy) and how the words are escaped for their medium
(the pages' templates escape HTML).
"""

from __future__ import annotations

from typing import Protocol


class OfferTerms(Protocol):
    """What an offer gives: `core.schemas.OfferDraft` and the `db.tables.Offer` row both have these."""

    @property
    def offer_type(self) -> str | None: ...
    @property
    def sku(self) -> str | None: ...
    @property
    def category(self) -> str | None: ...
    @property
    def discount_pct(self) -> float | None: ...
    @property
    def discount_cents(self) -> int | None: ...
    @property
    def bonus_points(self) -> int | None: ...


def money(cents: float) -> str:
    """Cents as dollars: 123450 -> "$1,234.50"."""
    return f"${cents / 100:,.2f}"


def percent(pct: float) -> str:
    """A percentage as short as it is exact: 15.0 -> "15%", 12.5 -> "12.5%"."""
    return f"{pct:g}%"


def describe_offer(offer: OfferTerms, *, item_name: str | None = None, category_name: str | None = None) -> str:
    """The offer's terms in words. `item_name` names the item (default: the sku), `category_name` the
    category (default: the category as stored)."""
    kind = offer.offer_type
    item = item_name or offer.sku or "?"
    if kind == "percent_off_item":
        return f"{percent(offer.discount_pct or 0)} off {item}"
    if kind == "percent_off_category":
        return f"{percent(offer.discount_pct or 0)} off any {category_name or offer.category or '?'}"
    if kind == "amount_off_item":
        return f"{money(offer.discount_cents or 0)} off {item}"
    if kind == "free_item":
        return f"a free {item}"
    if kind == "bonus_points":
        return f"{offer.bonus_points or 0:,} bonus points"
    return kind or "no offer terms"
