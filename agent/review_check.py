"""Live check of a reviewer's edit: every guardrail on the edited draft, nothing executed.

The review page calls this as the reviewer types. It builds the same draft the review would
(`db.offers.draft_from_row` plus the edits, through the review's own `check_decision`), checks it
against the guest as they are now with the same `agent.recheck.evaluate_now` the graph uses, and adds the
SMS figures a person needs while writing: characters and segments once `{first_name}` and
`{promo_code}` are filled to their reserved widths, and whether the opt-out text is there.
Nothing is written: no status change, no audit row, no side effect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlmodel import Session

from agent.recheck import evaluate_now
from agent.review import check_decision
from agent.state import decision_features
from core.schemas import GuardrailResult, Verdict
from core.sms import sms_segments
from db.offers import draft_from_row
from db.tables import Offer, PosTransaction
from guardrails.copy import RULE as COPY_RULE
from guardrails.copy import has_opt_out, render_for_length

if TYPE_CHECKING:
    from agent.runner import OfferAgent
    from guardrails.policy import SmsPolicy


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


def sms_figures(text: str, sms: SmsPolicy) -> SmsFigures:
    """Length, limit and segments as the copy rule measures them (placeholders at their budgets)."""
    rendered = render_for_length(text, first_name_budget=sms.first_name_budget, promo_code_length=sms.promo_code_length)
    length, limit, gsm = sms.measure(rendered)
    return SmsFigures(
        length=length,
        encoding="GSM-7" if gsm else "UCS-2",
        segments=sms_segments(length, gsm),
        limit=limit,
        opt_out_present=has_opt_out(text, sms.opt_out_text),
        opt_out_text=sms.opt_out_text,
        first_name_width=sms.first_name_budget,
    )


class UnknownOffer(LookupError):
    """No offer with that id."""


def check_edit(agent: OfferAgent, offer_id: str, edits: dict[str, Any], *, role: str) -> EditCheck:
    """The guardrails' verdicts on offer `offer_id` with `edits` applied, against the guest as they are now.

    The edit is validated by the review's own rules first (`agent.review.check_decision`: unknown
    field or bad value -> ReviewError, a marketer changing terms -> ReviewForbidden), so the page
    never shows a verdict for an edit the review would refuse."""
    ctx = agent.ctx
    with Session(ctx.engine) as session:
        offer = session.get(Offer, offer_id)
        if offer is None:
            raise UnknownOffer(offer_id)
        txn = session.get(PosTransaction, offer.transaction_id) if offer.transaction_id else None
    current = draft_from_row(offer)
    draft = check_decision(current, {"action": "edit", "edits": edits, "role": role}) if edits else current
    assert draft is not None
    # Value figures come from the decision's own profile features, as in the graph's checks.
    features = decision_features(agent.graph.get_state(agent.config(offer.event_id)).values) if offer.event_id else None
    report = evaluate_now(
        ctx,
        offer=draft,
        merchant_id=offer.merchant_id,
        customer_id=offer.customer_id,
        location_id=txn.location_id if txn else None,
        offer_id=offer.id,
        features=features,
    ).report
    copy = next((r for r in report.results if r.rule == COPY_RULE), None)
    findings: list[str] = []
    if copy is not None and copy.verdict != "pass":
        findings = [str(p) for p in (copy.evidence.get("problems") or [copy.reason])]
    return EditCheck(
        verdict=report.verdict,
        results=report.results,
        copy_findings=findings,
        sms=sms_figures(draft.sms_text, ctx.policy.sms) if draft.sms_text else None,
    )
