"""Discount caps: the share taken off an item and the worst-case value of the offer to the guest.

Offer value: percent_off_item = price x pct; amount_off_item = the cents (at most the price);
free_item = price; percent_off_category = pct x the highest price in the category (worst case);
bonus_points = points x policy.point_value_cents.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from core.schemas import GuardrailResult
from guardrails.context import not_applicable, result

if TYPE_CHECKING:
    from guardrails.context import GuardrailContext

DISCOUNT_RULE = "discount"
VALUE_RULE = "offer_value"


def effective_discount_pct(ctx: GuardrailContext) -> Fraction | None:
    """Share of the price taken off, in percent; None for points offers or unresolved targets."""
    offer = ctx.offer
    items = ctx.target_items
    if offer.offer_type in ("percent_off_item", "percent_off_category"):
        return Fraction(offer.discount_pct or 0)
    if not items:
        return None
    if offer.offer_type == "amount_off_item":
        price = items[0].price_cents
        return Fraction(offer.discount_cents or 0) * 100 / price if price > 0 else None
    if offer.offer_type == "free_item":
        return Fraction(100)
    return None


def check_discount(ctx: GuardrailContext) -> GuardrailResult:
    offer = ctx.offer
    if not offer.make_offer or offer.offer_type == "bonus_points":
        return not_applicable(DISCOUNT_RULE, "offer discounts no item")
    pct = effective_discount_pct(ctx)
    if pct is None:
        return not_applicable(DISCOUNT_RULE, "offer target unresolved (see structure)")
    cap = ctx.policy.max_discount_pct
    evidence: dict[str, object] = {"discount_pct": round(float(pct), 2), "max_discount_pct": cap}
    if offer.offer_type == "amount_off_item" and (offer.discount_cents or 0) > ctx.target_items[0].price_cents:
        return result(DISCOUNT_RULE, "block", "amount off exceeds the item's price", **evidence)
    if offer.offer_type == "free_item":
        allowance = ctx.policy.free_item_max_price_cents
        price = ctx.target_items[0].price_cents
        if price <= allowance:
            return result(
                DISCOUNT_RULE, "pass", "free item within the policy's free-item allowance", **evidence
            )
        return result(
            DISCOUNT_RULE,
            "block",
            f"free item priced {price} cents exceeds the free-item allowance of {allowance} cents",
            **evidence,
        )
    if pct > Fraction(cap):
        return result(
            DISCOUNT_RULE, "block", f"discount {float(pct):.1f}% exceeds the {cap:g}% cap", **evidence
        )
    return result(DISCOUNT_RULE, "pass", f"discount {float(pct):.1f}% within the {cap:g}% cap", **evidence)


def check_offer_value(ctx: GuardrailContext) -> GuardrailResult:
    offer = ctx.offer
    if not offer.make_offer:
        return not_applicable(VALUE_RULE, "no offer drafted")
    if offer.offer_type != "bonus_points" and not ctx.target_items:
        return not_applicable(VALUE_RULE, "offer target unresolved (see structure)")
    value = ctx.offer_value_cents
    cap = ctx.policy.max_offer_value_cents
    evidence = {"offer_value_cents": round(float(value), 2), "max_offer_value_cents": cap}
    if value > cap:
        return result(
            VALUE_RULE, "block", f"offer worth {float(value):.0f} cents exceeds the {cap} cent cap", **evidence
        )
    return result(VALUE_RULE, "pass", f"offer worth {float(value):.0f} cents within the cap", **evidence)
