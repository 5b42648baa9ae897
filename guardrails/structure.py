"""Offer structure: the draft must name exactly what the POS can execute.

A model can draft an offer on a sku that does not exist, an inactive item, an empty category or a
percent offer without a percentage; no other rule can judge such an offer, so it is blocked here
and the other rules treat it as not applicable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.schemas import GuardrailResult
from guardrails.context import not_applicable, result

if TYPE_CHECKING:
    from guardrails.context import GuardrailContext

RULE = "structure"


def _problems(ctx: GuardrailContext) -> list[str]:
    offer = ctx.offer
    problems: list[str] = []
    kind = offer.offer_type
    if kind is None:
        return ["make_offer is true but offer_type is missing"]
    if kind in ("percent_off_item", "amount_off_item", "free_item"):
        item = ctx.catalog.get(offer.sku or "")
        if not offer.sku:
            problems.append(f"{kind} needs a sku")
        elif item is None:
            problems.append(f"sku {offer.sku!r} is not in the catalog")
        elif not item.active:
            problems.append(f"sku {offer.sku!r} is not active")
        elif item.price_cents <= 0:
            problems.append(f"sku {offer.sku!r} has no positive price")
    if kind == "percent_off_category":
        if not offer.category:
            problems.append("percent_off_category needs a category")
        elif not ctx.target_items:
            problems.append(f"category {offer.category!r} has no active catalog items")
        elif any(item.price_cents <= 0 for item in ctx.target_items):
            problems.append(f"category {offer.category!r} has an item without a positive price")
    if kind in ("percent_off_item", "percent_off_category") and not offer.discount_pct:
        problems.append(f"{kind} needs a discount_pct above 0")
    if kind == "amount_off_item" and not offer.discount_cents:
        problems.append("amount_off_item needs discount_cents above 0")
    if kind == "bonus_points" and not offer.bonus_points:
        problems.append("bonus_points needs bonus_points above 0")
    return problems


def check_structure(ctx: GuardrailContext) -> GuardrailResult:
    if not ctx.offer.make_offer:
        return not_applicable(RULE, "no offer drafted")
    problems = _problems(ctx)
    if problems:
        return result(RULE, "block", "; ".join(problems), problems=problems)
    return result(RULE, "pass", "offer names an executable target", offer_type=ctx.offer.offer_type)
