"""Allergens: never promote an item containing an allergen on the customer's profile.

Allergens are catalog facts; whatever the model claims about an item ("nut-free", "safe for
Maria") is recorded in the evidence and ignored. Unknown allergies (None) are not "no allergies":
such a customer gets no offer centred on an item with a top-9 allergen unless the policy allows it
(the policy chooses block or escalate). A category offer counts every active item of the category,
because the promo code cannot exclude items at the register.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.allergens import normalize_allergens
from core.schemas import GuardrailResult
from guardrails.context import not_applicable, result

if TYPE_CHECKING:
    from guardrails.context import GuardrailContext

RULE = "allergens"


def check_allergens(ctx: GuardrailContext) -> GuardrailResult:
    offer = ctx.offer
    if not offer.make_offer or offer.offer_type == "bonus_points":
        return not_applicable(RULE, "offer is centred on no item")
    items = ctx.target_items
    if not items:
        return not_applicable(RULE, "offer target unresolved (see structure)")
    evidence: dict[str, object] = {"skus": [item.sku for item in items]}
    if offer.claims:
        evidence["model_claims_ignored"] = list(offer.claims)
    allergies = ctx.customer_allergies
    if allergies is not None:
        conflicts = {
            item.sku: sorted(normalize_allergens(item.allergens) & allergies) for item in items
        }
        conflicts = {sku: found for sku, found in conflicts.items() if found}
        if conflicts:
            return result(
                RULE,
                "block",
                "offer covers items with the customer's allergens: "
                + ", ".join(f"{sku} ({'/'.join(found)})" for sku, found in conflicts.items()),
                conflicts=conflicts,
                **evidence,
            )
        return result(RULE, "pass", "no item shares an allergen with the customer's profile", **evidence)

    top9 = ctx.top9
    risky = {
        item.sku: sorted(normalize_allergens(item.allergens) & top9) for item in items
    }
    risky = {sku: found for sku, found in risky.items() if found}
    evidence["allergies_known"] = False
    if not risky:
        return result(RULE, "pass", "allergies unknown, but no covered item has a top-9 allergen", **evidence)
    if ctx.policy.allow_unknown_allergy_offers_on_top9:
        return result(
            RULE, "pass", "allergies unknown; policy allows offers on top-9 allergen items", top9=risky, **evidence
        )
    return result(
        RULE,
        ctx.policy.unknown_allergy_action,
        "allergies unknown and the offer covers top-9 allergen items: "
        + ", ".join(f"{sku} ({'/'.join(found)})" for sku, found in risky.items()),
        top9=risky,
        **evidence,
    )
