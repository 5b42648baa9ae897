"""The transaction-event offer graph.

load_transaction -> update_profile -> retrieve_context -> draft_offer -> check_guardrails -> route:
  late sale          -> record after update_profile (outcome `late`: profile updated, no draft)
  blocked / no offer -> record
  escalate           -> human_review (interrupt, resumable; agent/review.py)
                          reject -> record; edit -> check_guardrails; a manager's accept -> execute
  pass               -> execute (agent/execute.py: re-check every rule on fresh facts first)
                          -> record, or back to human_review on an escalation nobody reviewed

The model only ever drafts. Side effects happen in `execute`, after an approval, each with an
idempotency key derived from the offer (one offer per event), so re-running a node after a crash or
retry never repeats an effect. Every node appends an audit row. Offer status changes go through
db/offers.py.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent.audit_trail import audit
from agent.context import AgentContext
from agent.drafting import DraftInput
from agent.execute import SENT, execute, route_after_execute
from agent.facts import jsonable, offer_id_for
from agent.lateness import late_reason, read_received_sale
from agent.recheck import evaluate_decision
from agent.retrieval import build_draft_input, read_tool_context
from agent.review import approved, human_review, reviewer_ref, route_after_review
from agent.state import OfferState, decision_features
from db import offers
from db.engine import session_scope
from db.tables import Offer

# --------------------------------------------------------------------------------------------- nodes


def load_transaction(state: OfferState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = runtime.context
    with session_scope(ctx.engine) as session:  # the audit row commits with the node's reads, one transaction
        sale = read_received_sale(session, transaction_id=state["transaction_id"], event_id=state["event_id"])
        if sale is None or sale.customer_id is None:
            raise ValueError(f"transaction {state['transaction_id']} missing or anonymous")
        out = {"merchant_id": sale.merchant_id, "customer_id": sale.customer_id, "location_id": sale.location_id}
        late = late_reason(sale.received_at, occurred_at=sale.occurred_at, window=ctx.policy.realtime_window,
                           now=ctx.now())
        summary = {
            "pos_transaction_id": sale.pos_transaction_id,
            "total_cents": sale.total_cents,
            "skus": sale.skus,
            "occurred_at": sale.occurred_at.isoformat(),
            "late": late,
        }
        audit(ctx, state, "load_transaction", summary, inputs={"transaction_id": state["transaction_id"]},
              session=session)
    return {**out, "late": late, "steps": ["load_transaction"]}


def update_profile(state: OfferState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    from agent.indexing import refresh_customer

    ctx = runtime.context
    with session_scope(ctx.engine) as session:  # the reads and the audit row, one transaction
        features = refresh_customer(ctx, merchant_id=state["merchant_id"], customer_id=state["customer_id"],
                                    transaction_id=state["transaction_id"], session=session)
        # The checkpointer stores the dump; readers validate it back (agent.state.decision_features).
        dump = features.model_dump(mode="json") if features is not None else None
        audited = ("visits_12m", "churn_risk", "expected_next_visit_at", "lifecycle", "model_source")
        summary = {key: dump[key] for key in audited} if dump is not None else {}
        audit(ctx, state, "update_profile", summary, inputs={"customer_id": state["customer_id"]}, session=session)
    return {"features": dump, "steps": ["update_profile"]}


def retrieve_context(state: OfferState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = runtime.context
    with session_scope(ctx.engine) as session:  # the reads and the audit row, one transaction
        draft_input = build_draft_input(
            ctx,
            merchant_id=state["merchant_id"],
            customer_id=state["customer_id"],
            transaction_id=state["transaction_id"],
            features=decision_features(state),
            session=session,
        )
        data = jsonable(draft_input)
        audit(
            ctx,
            state,
            "retrieve_context",
            {
                "eligible_items": len(draft_input.eligible_catalog),
                "complements": len(draft_input.complements),
                "offers_last_30d": draft_input.offer_history.offers_last_30d,
                "has_staff_notes": draft_input.staff_notes_pseudonymized is not None,
            },
            inputs=data,
            session=session,
        )
    return {"draft_input": data, "steps": ["retrieve_context"]}


def draft_offer(state: OfferState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = runtime.context
    inp = DraftInput.model_validate(state["draft_input"])
    result = ctx.drafter.draft(
        inp, context=read_tool_context(ctx, inp, merchant_id=state["merchant_id"], customer_id=state["customer_id"])
    )
    meta = result.meta
    offer = result.offer
    offer_id: str | None = None
    with session_scope(ctx.engine) as session:  # the draft row and its audit row in one transaction
        if offer.make_offer:
            offer_id = offer_id_for(state["event_id"])
            saved = offers.save_draft(
                session,
                offer_id=offer_id,
                merchant_id=state["merchant_id"],
                customer_id=state["customer_id"],
                event_id=state["event_id"],
                transaction_id=state["transaction_id"],
                draft=offer,
                model=result.model,
                prompt_version=result.prompt_version,
                fallback_reason=result.fallback_reason,
            )
            if not saved:
                # A re-run after a crash between this node's commit and its checkpoint: the offer has moved
                # on, so the decision keeps the draft it recorded (a model may well draft otherwise now).
                row = session.get(Offer, offer_id)
                assert row is not None
                offer = offers.draft_from_row(row)
        audit(
            ctx,
            state,
            "draft_offer",
            {
                "make_offer": offer.make_offer,
                "strategy": offer.strategy,
                "offer_type": offer.offer_type,
                "sku": offer.sku,
                "rationale": offer.rationale,
                "confidence": offer.confidence,
                **meta,
            },
            offer_id=offer_id,
            inputs=state["draft_input"],
            model=result.model,
            prompt_version=result.prompt_version,
            session=session,
        )
    return {"draft": jsonable(offer), "draft_meta": meta, "offer_id": offer_id, "steps": ["draft_offer"]}


def check_guardrails(state: OfferState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Every rule on the draft (or a reviewer's edit), against facts read now."""
    ctx = runtime.context
    offer_id = state.get("offer_id")
    review = state.get("review")
    with session_scope(ctx.engine) as session:  # facts read, verdicts and audit row: one transaction
        ev = evaluate_decision(ctx, state, session=session)
        report = ev.report
        if offer_id:
            offers.record_verdicts(
                session,
                offer_id,
                to=_status_after_check(state, report.verdict),
                verdict=report.verdict,
                verdicts=ev.verdicts,
                offer_value_cents=ev.offer_value_cents,
                send_at=report.send_at,
            )
        audit(
            ctx,
            state,
            "check_guardrails",
            {
                "verdict": report.verdict,
                "blocking": [r.rule for r in report.blocking],
                "escalating": [r.rule for r in report.escalating],
                "send_at": report.send_at.isoformat() if report.send_at else None,
            },
            verdicts=ev.verdicts,
            actor=reviewer_ref(review) if review and review.get("action") == "edit" else "agent",
            inputs=state["draft"],
            session=session,
        )
    return {"verdict": report.verdict, "report": report.model_dump(mode="json"), "steps": ["check_guardrails"]}


def _status_after_check(state: OfferState, verdict: str) -> str:
    """Where the row goes, matching `route_after_guardrails`: a manager's edit stays `reviewing` (under
    the lease) on its way to `execute`; anything else unapproved waits in the queue."""
    if verdict == "block":
        return offers.BLOCKED
    if not approved({**state, "verdict": verdict}):  # type: ignore[typeddict-item]
        return offers.PENDING_REVIEW
    return offers.REVIEWING if state.get("review") else offers.APPROVED


def record(state: OfferState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = runtime.context
    outcome = _outcome(state)
    audit(
        ctx,
        state,
        "record",
        {
            "outcome": outcome,
            "verdict": state.get("verdict"),
            "fallback_reason": (state.get("draft_meta") or {}).get("fallback_reason"),
            "reason": state.get("late"),
        },
    )
    return {"outcome": outcome, "steps": ["record"]}


# ------------------------------------------------------------------------------------------- helpers


def _outcome(state: OfferState) -> str:
    if state.get("late"):
        return "late"
    draft = state.get("draft") or {}
    if not draft.get("make_offer"):
        return "no_offer"
    if (state.get("review") or {}).get("action") == "reject":
        return "rejected"
    if state.get("executed") == SENT:
        return "sent"
    if state.get("verdict") == "block":
        return "blocked"
    return "pending_review"


# ------------------------------------------------------------------------------------------- routers


def route_after_profile(state: OfferState) -> Literal["retrieve_context", "record"]:
    return "record" if state.get("late") else "retrieve_context"


def route_after_draft(state: OfferState) -> Literal["check_guardrails", "record"]:
    return "check_guardrails" if (state.get("draft") or {}).get("make_offer") else "record"


def route_after_guardrails(state: OfferState) -> Literal["execute", "human_review", "record"]:
    if state.get("verdict") == "block":
        return "record"
    if approved(state):
        return "execute"
    return "human_review"


# ------------------------------------------------------------------------------------------- builder

builder = StateGraph(OfferState, context_schema=AgentContext)
builder.add_node(load_transaction)
builder.add_node(update_profile)
builder.add_node(retrieve_context)
builder.add_node(draft_offer)
builder.add_node(check_guardrails)
builder.add_node(human_review)
builder.add_node(execute)
builder.add_node(record)
builder.add_edge(START, "load_transaction")
builder.add_edge("load_transaction", "update_profile")
builder.add_conditional_edges("update_profile", route_after_profile)
builder.add_edge("retrieve_context", "draft_offer")
builder.add_conditional_edges("draft_offer", route_after_draft)
builder.add_conditional_edges("check_guardrails", route_after_guardrails)
builder.add_conditional_edges("human_review", route_after_review)
builder.add_conditional_edges("execute", route_after_execute)
builder.add_edge("record", END)

graph = builder.compile()
"""Without a checkpointer (LangGraph Studio / langgraph.json). The worker compiles with a durable one."""


def compile_with(checkpointer: Any) -> Any:
    return builder.compile(checkpointer=checkpointer)
