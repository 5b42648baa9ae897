"""Live check of a reviewer's edit: every guardrail on the edited draft, nothing executed.

The review page calls this as the reviewer types. It builds the same draft the review would
(`db.offers.draft_from_row` plus the edits, validated by `OfferDraft`), checks it against the
guest as they are now with the same `guardrail_context` + `evaluate` the graph uses, and adds the
SMS figures a person needs while writing: characters and segments once `{first_name}` and
`{promo_code}` are filled to their reserved widths, and whether the opt-out text is there.
Nothing is written: no status change, no audit row, no side effect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlmodel import Session

from agent.retrieval import guardrail_context
from agent.state import decision_features
from core.schemas import GuardrailResult, OfferDraft, Verdict
from db.offers import draft_from_row
from db.tables import Offer, PosTransaction
from guardrails.copy import RULE as COPY_RULE
from guardrails.copy import has_opt_out, render_for_length, sms_length, sms_segments
from guardrails.engine import evaluate

if TYPE_CHECKING:
    from agent.runner import OfferAgent


class SmsFigures(BaseModel):
    length: int = Field(description="Characters (encoding units) with the placeholders filled.")
    encoding: str = Field(description="GSM-7, or UCS-2 when a character needs it.")
    segments: int
    limit: int = Field(description="The policy's limit for this encoding.")
    opt_out_present: bool
    opt_out_text: str
    first_name_width: int = Field(description="Width reserved for {first_name}.")


class EditCheck(BaseModel):
    verdict: Verdict
    results: list[GuardrailResult]
    copy_findings: list[str] = Field(description="What the copy rule found (empty when the copy passes).")
    sms: SmsFigures | None = None


class UnknownOffer(LookupError):
    """No offer with that id."""


def edited_draft(offer: Offer, edits: dict[str, Any]) -> OfferDraft:
    """The draft the review would check: the row's draft with `edits` applied (raises ValidationError)."""
    return OfferDraft.model_validate({**draft_from_row(offer).model_dump(), **edits})


def sms_figures(text: str, policy: Any) -> SmsFigures:
    rendered = render_for_length(
        text, first_name_budget=policy.sms.first_name_budget, promo_code_length=policy.sms.promo_code_length
    )
    length, gsm = sms_length(rendered)
    return SmsFigures(
        length=length,
        encoding="GSM-7" if gsm else "UCS-2",
        segments=sms_segments(length, gsm),
        limit=policy.sms.max_length if gsm else policy.sms.max_length_unicode,
        opt_out_present=has_opt_out(text, policy.sms.opt_out_text),
        opt_out_text=policy.sms.opt_out_text,
        first_name_width=policy.sms.first_name_budget,
    )


def check_edit(agent: OfferAgent, offer_id: str, edits: dict[str, Any]) -> EditCheck:
    """The guardrails' verdicts on offer `offer_id` with `edits` applied, against current facts."""
    ctx = agent.ctx
    with Session(ctx.engine) as session:
        offer = session.get(Offer, offer_id)
        if offer is None:
            raise UnknownOffer(offer_id)
        txn = session.get(PosTransaction, offer.transaction_id) if offer.transaction_id else None
    draft = edited_draft(offer, edits)
    # Value figures come from the decision's own profile features, as in the graph's check.
    features = decision_features(agent.graph.get_state(agent.config(offer.event_id)).values) if offer.event_id else None
    gctx = guardrail_context(
        ctx,
        offer=draft,
        merchant_id=offer.merchant_id,
        customer_id=offer.customer_id,
        location_id=txn.location_id if txn else None,
        offer_id=offer.id,
        features=features,
    )
    report = evaluate(gctx)
    copy = next((r for r in report.results if r.rule == COPY_RULE), None)
    findings: list[str] = []
    if copy is not None and copy.verdict != "pass":
        findings = [str(p) for p in (copy.evidence.get("problems") or [copy.reason])]
    return EditCheck(
        verdict=report.verdict,
        results=report.results,
        copy_findings=findings,
        sms=sms_figures(draft.sms_text, ctx.policy) if draft.sms_text else None,
    )
