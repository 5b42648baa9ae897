"""Offer arithmetic for drafters: margins after a discount and the largest discount the policy allows.

Judged exactly as the guardrails judge it (guardrails.margin, fractions): a drafter that aims at the
margin floor or the value cap with float arithmetic could land a hair on the wrong side of it.
"""

from __future__ import annotations

import math
from fractions import Fraction

from agent.draft_input import OfferLimits
from core.schemas import CatalogFact
from guardrails.margin import margin_pct


def _paid_cents(item: CatalogFact, discount_pct: float) -> Fraction:
    return max(Fraction(item.price_cents) * (100 - Fraction(discount_pct)) / 100, Fraction(0))


def margin_after_discount(item: CatalogFact, discount_pct: float) -> float:
    """Gross margin (0..1) of the item sold at the discounted price; -inf if it would be free."""
    margin = margin_pct(_paid_cents(item, discount_pct), item.unit_cost_cents)
    return -math.inf if margin is None else float(margin) / 100


def base_margin(item: CatalogFact) -> float:
    return margin_after_discount(item, 0)


def keeps_margin_floor(item: CatalogFact, discount_pct: float, limits: OfferLimits) -> bool:
    """The margin rule's test: gross margin after the discount at or above the policy's floor."""
    margin = margin_pct(_paid_cents(item, discount_pct), item.unit_cost_cents)
    return margin is not None and margin >= Fraction(limits.min_margin_pct)


def within_value_cap(value_cents: Fraction | int, limits: OfferLimits, max_value_cents: int | None = None) -> bool:
    """The offer-value rule's test, optionally under a stricter cap of the drafter's own."""
    cap = limits.max_offer_value_cents if max_value_cents is None else min(max_value_cents,
                                                                          limits.max_offer_value_cents)
    return Fraction(value_cents) <= cap


def points_value_cents(points: int, limits: OfferLimits) -> Fraction:
    """What bonus points are worth to the guest, as the offer-value rule counts them."""
    return Fraction(points) * Fraction(limits.point_value_cents)


def fit_discount_pct(
    items: list[CatalogFact],
    *,
    want_pct: int,
    limits: OfferLimits,
    max_value_cents: int | None = None,
    min_pct: int = 10,
) -> int | None:
    """The largest discount from `want_pct` down to `min_pct` (5-point steps) that keeps every item
    at or above the margin floor, under the discount cap and under the value cap; None if none does."""
    for pct in range(min(want_pct, math.floor(limits.max_discount_pct)), min_pct - 1, -5):
        top_value = max(Fraction(item.price_cents) for item in items) * pct / 100
        if all(keeps_margin_floor(item, pct, limits) for item in items) and within_value_cap(
            top_value, limits, max_value_cents
        ):
            return pct
    return None
