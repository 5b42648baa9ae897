"""Offer structure: the draft must name exactly what the POS can execute.

A model can draft an offer on a sku that does not exist, an inactive item, an empty category or a
percent offer without a percentage; no other rule can judge such an offer, so it is blocked here
and the other rules treat it as not applicable. The shape rules themselves live in core.offer_shape,
shared with the drafters' own checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.offer_shape import shape_problems, target_problems
from core.schemas import GuardrailResult
from guardrails.context import not_applicable, result

if TYPE_CHECKING:
    from guardrails.context import GuardrailContext

RULE = "structure"


def check_structure(ctx: GuardrailContext) -> GuardrailResult:
    if not ctx.offer.make_offer:
        return not_applicable(RULE, "no offer drafted")
    problems = shape_problems(ctx.offer) + target_problems(ctx.offer, ctx.catalog)
    if problems:
        return result(RULE, "block", "; ".join(problems), problems=problems)
    return result(RULE, "pass", "offer names an executable target", offer_type=ctx.offer.offer_type)
