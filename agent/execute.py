"""The `execute` node: re-check every rule against the guest as they are now, then cause the offer's
side effects, each exactly once.

Right before any side effect, all rules run again on fresh facts (`agent.recheck.evaluate_now`: profile,
consents, allergies, age, timezone and quiet hours, fatigue counted now without this offer). This runs on
every path into `execute`: straight from the rules, after a reviewer's accept or edit, and when the worker
resumes a decision whose execution failed (POS down), because the check sits inside this node.
- block: the offer ends `blocked` with the new verdicts stored and audited; no promo code, no points, no
  message.
- escalate: an offer a manager approved goes ahead only when every escalation is one they saw (same rule,
  same escalation trigger). Anything new (e.g. the guest moved up to a high-value tier meanwhile), and any
  escalation of an offer no person approved, sends it back to review: a fresh interrupt, nothing executed.
- pass (or only reviewed escalations): promo code created and attached (or points accrued), message
  scheduled at the fresh quiet-hours time, offer `sent`, with idempotency keys derived from the offer so a
  re-run after a crash repeats nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from langgraph.runtime import Runtime
from sqlmodel import Session

from agent.audit_trail import audit
from agent.context import AgentContext
from agent.recheck import Evaluation, evaluate_decision, unreviewed_escalations
from agent.review import approved, reviewer_ref
from agent.state import OfferState
from core.schemas import OfferDraft
from db import offers
from db.engine import session_scope
from db.tables import Customer
from tools.idempotency import idempotency_key
from tools.marketing.outbox import schedule_message
from tools.pos.audited import AuditedPos

SENT, BLOCKED, BACK_TO_REVIEW = "sent", "blocked", "review"


def execute(state: OfferState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Re-check, then create + attach the promo code (or accrue points) and schedule the message."""
    ctx = runtime.context
    offer_id = state.get("offer_id")
    assert offer_id is not None
    if not approved(state):  # defence in depth: the routers already guarantee this
        raise RuntimeError(f"offer {offer_id} reached execute without an approval")
    with Session(ctx.engine) as session:  # the offer, the guest and the re-check's facts, read together
        # The status only, not the whole row. The guest is loaded whole: the re-check's facts read it again
        # from the session.
        status = offers.current_status(session, offer_id)
        customer = session.get(Customer, state["customer_id"])
        assert status is not None and customer is not None
        if status not in offers.EXECUTABLE:
            return _already_settled(offer_id, status)  # a re-run after this node's own final commit
        ev = evaluate_decision(ctx, state, session=session)
    report = ev.report
    if report.verdict == "block":
        return _stop(ctx, state, ev, BLOCKED, [r.rule for r in report.blocking])
    if report.verdict == "escalate":
        seen = state.get("report") if state.get("review") else None
        new = unreviewed_escalations(seen, report)
        if new:
            return _stop(ctx, state, ev, BACK_TO_REVIEW, new)
    return _side_effects(ctx, state, ev, ev.context.offer, customer)


def _already_settled(offer_id: str, status: str) -> dict[str, Any]:
    if status == offers.SENT:
        return {"executed": SENT, "steps": ["execute"]}
    if status == offers.BLOCKED:
        return {"executed": BLOCKED, "verdict": "block", "steps": ["execute"]}
    if status == offers.PENDING_REVIEW:
        return {"executed": BACK_TO_REVIEW, "review": None, "steps": ["execute"]}
    raise RuntimeError(f"offer {offer_id} is {status!r}; nothing to execute")


def _stop(ctx: AgentContext, state: OfferState, ev: Evaluation, how: str, reasons: list[str]) -> dict[str, Any]:
    """No side effect: the re-check blocked the offer, or found escalations nobody reviewed."""
    offer_id = state.get("offer_id")
    assert offer_id is not None
    verdicts = ev.verdicts  # a property that dumps every result: once for the row and the audit row
    with session_scope(ctx.engine) as session:
        if how == BLOCKED:
            moved = offers.block_at_execution(session, offer_id, verdicts=verdicts)
        else:
            moved = offers.return_to_review(session, offer_id, verdicts=verdicts)
        if not moved:
            raise RuntimeError(f"offer {offer_id} changed while executing; not executed")
        audit(
            ctx,
            state,
            "execute",
            {"rechecked": True, "executed": False, "outcome": how, "verdict": ev.report.verdict, "reasons": reasons},
            verdicts=verdicts,
            session=session,
        )
    update: dict[str, Any] = {
        "executed": how,
        "verdict": ev.report.verdict,
        "report": ev.report.model_dump(mode="json"),
        "steps": ["execute"],
    }
    if how == BACK_TO_REVIEW:
        update["review"] = None  # the earlier decision did not cover these escalations
    return update


def _side_effects(
    ctx: AgentContext, state: OfferState, ev: Evaluation, offer: OfferDraft, customer: Customer
) -> dict[str, Any]:
    offer_id = state.get("offer_id")
    assert offer_id is not None and customer.id is not None
    pos = AuditedPos(ctx.pos, ctx.engine, correlation_id=state["event_id"], offer_id=offer_id)
    now = ctx.now()
    expires_at = now + timedelta(days=offer.expires_in_days)
    promo_code: str | None = None
    if offer.offer_type == "bonus_points":
        pos.accrue_points(
            idempotency_key=idempotency_key(offer_id, "accrue_points"),
            pos_customer_id=customer.pos_customer_id,
            points=int(offer.bonus_points or 0),
            reason=f"bonus offer {offer_id}",
            offer_id=offer_id,
        )
    else:
        pct = 100.0 if offer.offer_type == "free_item" else offer.discount_pct
        cents = offer.discount_cents if offer.offer_type == "amount_off_item" else None
        promo = pos.create_promo_code(
            idempotency_key=idempotency_key(offer_id, "create_promo_code"),
            merchant_id=state["merchant_id"],
            offer_id=offer_id,
            customer_id=customer.id,
            sku=offer.sku,
            category=offer.category,
            discount_pct=None if cents is not None else pct,
            discount_cents=cents,
            expires_at=expires_at,
        )
        pos.attach_promo_to_customer(
            idempotency_key=idempotency_key(offer_id, "attach_promo"),
            code=promo.code,
            pos_customer_id=customer.pos_customer_id,
        )
        promo_code = promo.code
    send_at = ev.report.send_at or now  # quiet hours in the guest's timezone as it is now
    body = offer.sms_text if offer.channel == "sms" else offer.email_body
    review = state.get("review") or {}
    verdicts = ev.verdicts  # dumped once, for the offer row and its audit row
    with session_scope(ctx.engine) as session:
        message = schedule_message(
            session,
            idempotency_key=idempotency_key(offer_id, f"message:{offer.channel}"),
            offer_id=offer_id,
            customer_id=customer.id,
            channel=offer.channel,
            subject=offer.email_subject if offer.channel == "email" else None,
            body=body or "",
            scheduled_for=send_at,
            correlation_id=state["event_id"],
        )
        if not offers.mark_sent(
            session,
            offer_id,
            promo_code=promo_code,
            scheduled_for=send_at,
            expires_at=expires_at,
            decided_by=reviewer_ref(review) if review else "agent",
            verdict=ev.report.verdict,
            verdicts=verdicts,
        ):
            raise RuntimeError(f"offer {offer_id} changed while executing")
        audit(
            ctx,
            state,
            "execute",
            {
                "rechecked": True,
                "executed": True,
                "promo_code": promo_code,
                "message_id": message.id,
                "channel": offer.channel,
                "scheduled_for": send_at.isoformat(),
                "deferred": ev.report.send_at is not None,
            },
            verdicts=verdicts,
            session=session,
        )
    return {"executed": SENT, "steps": ["execute"]}


def route_after_execute(state: OfferState) -> Literal["human_review", "record"]:
    return "human_review" if state.get("executed") == BACK_TO_REVIEW else "record"
