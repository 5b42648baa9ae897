"""Escalation: offers a human should look at even though no rule blocks them.

Triggers: a high-value customer (tier list or CLV), an offer worth more than the review threshold,
an offer type the merchant has not listed as known, or model confidence below the minimum.
Per-rule `escalate` overrides are applied by the engine, not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.schemas import GuardrailResult
from guardrails.context import not_applicable, result

if TYPE_CHECKING:
    from guardrails.context import GuardrailContext

RULE = "escalation"


def escalation_triggers(ctx: GuardrailContext) -> list[str]:
    offer = ctx.offer
    customer = ctx.customer
    policy = ctx.policy.escalation
    triggers: list[str] = []
    if customer.tier in policy.high_value_tiers:
        triggers.append(f"high-value tier {customer.tier!r}")
    if customer.clv_cents >= policy.high_value_clv_cents:
        triggers.append(f"customer lifetime value {customer.clv_cents} cents >= {policy.high_value_clv_cents}")
    value = ctx.offer_value_cents
    if value > policy.offer_value_threshold_cents:
        triggers.append(f"offer worth {float(value):.0f} cents > review threshold {policy.offer_value_threshold_cents}")
    if offer.offer_type not in policy.known_offer_types:
        triggers.append(f"new offer type {offer.offer_type!r}")
    if offer.confidence < policy.min_confidence:
        triggers.append(f"model confidence {offer.confidence:.2f} < {policy.min_confidence:.2f}")
    return triggers


def check_escalation(ctx: GuardrailContext) -> GuardrailResult:
    if not ctx.offer.make_offer:
        return not_applicable(RULE, "no offer drafted")
    triggers = escalation_triggers(ctx)
    if triggers:
        return result(RULE, "escalate", "needs review: " + "; ".join(triggers), triggers=triggers)
    return result(RULE, "pass", "no escalation trigger")
