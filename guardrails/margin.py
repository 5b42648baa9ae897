"""Margin floor: after the discount every item the offer covers keeps `min_margin_pct` gross margin.

Costs are catalog facts. Category offers are judged on their worst item, because the promo code
is redeemable on any item of the category. Arithmetic is exact (fractions) so a margin exactly at
the floor passes and one a hair below it blocks, whatever the float rounding.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from core.schemas import CatalogFact, GuardrailResult
from guardrails.context import not_applicable, result

if TYPE_CHECKING:
    from guardrails.context import GuardrailContext

RULE = "margin"
_NO_REVENUE = Fraction(-(10**12))  # sorts a given-away item below every real margin


def discounted_price_cents(ctx: GuardrailContext, item: CatalogFact) -> Fraction:
    """What the guest pays for `item` with the offer applied (never below zero)."""
    offer = ctx.offer
    price = Fraction(item.price_cents)
    if offer.offer_type == "amount_off_item":
        return max(price - (offer.discount_cents or 0), Fraction(0))
    if offer.offer_type == "free_item":
        return Fraction(0)
    return max(price * (100 - Fraction(offer.discount_pct or 0)) / 100, Fraction(0))


def margin_pct(price_cents: Fraction, unit_cost_cents: int) -> Fraction | None:
    """Gross margin in percent of the price paid; None when the item is given away (price 0)."""
    if price_cents <= 0:
        return None
    return (price_cents - unit_cost_cents) * 100 / price_cents


def check_margin(ctx: GuardrailContext) -> GuardrailResult:
    offer = ctx.offer
    if not offer.make_offer or offer.offer_type == "bonus_points":
        return not_applicable(RULE, "offer discounts no item")
    items = ctx.target_items
    if not items:
        return not_applicable(RULE, "offer target unresolved (see structure)")
    floor = Fraction(ctx.policy.min_margin_pct)
    if offer.offer_type == "free_item" and 0 < items[0].price_cents <= ctx.policy.free_item_max_price_cents:
        return result(
            RULE,
            "pass",
            "free item within the policy's free-item allowance; margin floor waived",
            sku=items[0].sku,
            price_cents=items[0].price_cents,
        )
    margins = [(margin_pct(discounted_price_cents(ctx, item), item.unit_cost_cents), item) for item in items]
    margin, item = min(margins, key=lambda pair: _NO_REVENUE if pair[0] is None else pair[0])
    evidence = {
        "sku": item.sku,
        "discounted_price_cents": float(discounted_price_cents(ctx, item)),
        "unit_cost_cents": item.unit_cost_cents,
        "margin_pct": None if margin is None else round(float(margin), 2),
        "min_margin_pct": ctx.policy.min_margin_pct,
    }
    if margin is None or margin < floor:
        shown = "no revenue" if margin is None else f"{float(margin):.1f}%"
        return result(
            RULE,
            "block",
            f"margin on {item.sku} after discount is {shown}, below the {ctx.policy.min_margin_pct:g}% floor",
            **evidence,
        )
    return result(RULE, "pass", f"worst margin {float(margin):.1f}% on {item.sku}", **evidence)
