"""Alcohol: offers on alcohol only to a customer who is age-verified, of legal age by birthday when
the birthday is known, opted in to alcohol marketing, at a location whose policy allows it, under a
merchant policy that has alcohol marketing enabled. The copy rule reuses `alcohol_ineligibility`
so alcohol is never mentioned to anyone else either."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from core.schemas import CustomerFacts, GuardrailResult
from guardrails.context import not_applicable, result

if TYPE_CHECKING:
    from guardrails.context import GuardrailContext
    from guardrails.policy import AlcoholPolicy

RULE = "alcohol"


def age_on(birthday: date, today: date) -> int:
    """Completed years on `today` (a 29 February birthday counts from 1 March in common years)."""
    return today.year - birthday.year - ((today.month, today.day) < (birthday.month, birthday.day))


def alcohol_ineligibility_reasons(
    customer: CustomerFacts, policy: AlcoholPolicy, today: date
) -> list[str]:
    """Why this customer may not receive alcohol marketing on their local date `today`; empty when
    they may. The rule and the drafter's catalog pre-filter both ask this function."""
    reasons: list[str] = []
    if not policy.marketing_enabled:
        reasons.append("merchant policy disables alcohol marketing")
    if customer.location_alcohol_policy != "allowed":
        reasons.append(f"location alcohol policy is {customer.location_alcohol_policy!r}")
    if not customer.age_verified:
        reasons.append("age not verified")
    if customer.birthday is not None:
        age = age_on(customer.birthday, today)
        if age < policy.legal_age:
            reasons.append(f"customer is {age}, under the legal age of {policy.legal_age}")
    if not customer.consent_alcohol_marketing:
        reasons.append("no alcohol-marketing opt-in")
    return reasons


def alcohol_ineligibility(ctx: GuardrailContext) -> list[str]:
    """Why this customer may not receive alcohol marketing; empty when they may."""
    today = ctx.now_utc.astimezone(ZoneInfo(ctx.customer_timezone[0])).date()
    return alcohol_ineligibility_reasons(ctx.customer, ctx.policy.alcohol, today)


def check_alcohol(ctx: GuardrailContext) -> GuardrailResult:
    offer = ctx.offer
    if not offer.make_offer:
        return not_applicable(RULE, "no offer drafted")
    alcohol_skus = [item.sku for item in ctx.target_items if item.contains_alcohol]
    if not alcohol_skus:
        return not_applicable(RULE, "offer covers no alcohol")
    reasons = alcohol_ineligibility(ctx)
    if reasons:
        return result(
            RULE,
            "block",
            "alcohol offer not allowed: " + "; ".join(reasons),
            alcohol_skus=alcohol_skus,
            reasons=reasons,
        )
    return result(RULE, "pass", "customer eligible for alcohol offers", alcohol_skus=alcohol_skus)
