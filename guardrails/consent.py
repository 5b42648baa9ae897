"""Consent: the channel needs the customer's opt-in, and a STOP-style opt-out stops everything."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.schemas import GuardrailResult
from guardrails.context import not_applicable, result

if TYPE_CHECKING:
    from guardrails.context import GuardrailContext

RULE = "consent"


def check_consent(ctx: GuardrailContext) -> GuardrailResult:
    offer = ctx.offer
    customer = ctx.customer
    if not offer.make_offer:
        return not_applicable(RULE, "no offer drafted")
    if customer.opted_out:
        return result(RULE, "block", "customer opted out of all marketing (STOP)", channel=offer.channel)
    opted_in = customer.consent_sms if offer.channel == "sms" else customer.consent_email
    if not opted_in:
        return result(RULE, "block", f"no {offer.channel} opt-in", channel=offer.channel)
    return result(RULE, "pass", f"{offer.channel} opt-in on file", channel=offer.channel)
