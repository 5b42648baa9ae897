"""The transaction-event offer graph.

load_transaction -> update_profile -> retrieve_context -> draft_offer -> check_guardrails -> route:
  blocked / no offer -> record
  escalate           -> human_review (interrupt, resumable) -> execute | check_guardrails (edit) | record
  pass               -> execute -> record

The model only ever drafts. Side effects happen in `execute`, after an approved verdict, each with
an idempotency key derived from the offer (one offer per event), so re-running a node after a
crash or retry never repeats an effect. Every node appends an audit row.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from sqlmodel import Session, col, select

from agent.context import AgentContext
from agent.drafting import DraftInput
from agent.facts import jsonable, offer_id_for
from agent.retrieval import build_draft_input, guardrail_context, read_tool_context
from agent.state import OfferState
from core.schemas import GuardrailReport, OfferDraft
from db import offers
from db.engine import session_scope
from db.tables import Customer, Offer, PosTransaction, TransactionLine
from guardrails.engine import evaluate
from tools.audit import record_audit
from tools.idempotency import idempotency_key
from tools.marketing.outbox import schedule_message
from tools.pos.audited import AuditedPos

# Fields a reviewer may change. Everything else (customer, item safety facts) is not editable.
EDITABLE_FIELDS = frozenset(
    {
        "sms_text",
        "email_subject",
        "email_body",
        "discount_pct",
        "discount_cents",
        "bonus_points",
        "expires_in_days",
        "channel",
        "sku",
        "category",
        "offer_type",
    }
)
APPROVER_ROLES = frozenset({"manager", "admin"})


class ReviewError(ValueError):
    """A review decision that cannot be applied (bad action or edit)."""


class ReviewConflict(RuntimeError):
    """The offer is not waiting for review (decided already, or another reviewer holds it)."""


def _audit(ctx: AgentContext, state: OfferState, node: str, outputs: dict[str, Any], **kw: Any) -> None:
    with session_scope(ctx.engine) as session:
        record_audit(
            session,
            correlation_id=state["event_id"],
            node=node,
            outputs=outputs,
            offer_id=kw.pop("offer_id", state.get("offer_id")),
            **kw,
        )


# --------------------------------------------------------------------------------------------- nodes


def load_transaction(state: OfferState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = runtime.context
    with Session(ctx.engine) as session:
        txn = session.get(PosTransaction, state["transaction_id"])
        if txn is None or txn.customer_id is None:
            raise ValueError(f"transaction {state['transaction_id']} missing or anonymous")
        lines = session.exec(select(TransactionLine).where(col(TransactionLine.transaction_id) == txn.id)).all()
        out = {"merchant_id": txn.merchant_id, "customer_id": txn.customer_id, "location_id": txn.location_id}
        summary = {
            "pos_transaction_id": txn.pos_transaction_id,
            "total_cents": txn.total_cents,
            "skus": [ln.sku for ln in lines],
            "occurred_at": txn.occurred_at.isoformat(),
        }
    _audit(ctx, state, "load_transaction", summary, inputs={"transaction_id": state["transaction_id"]})
    return {**out, "steps": ["load_transaction"]}


def update_profile(state: OfferState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    from agent.indexing import refresh_customer

    ctx = runtime.context
    features = refresh_customer(
        ctx, merchant_id=state["merchant_id"], customer_id=state["customer_id"], transaction_id=state["transaction_id"]
    )
    summary = (
        {}
        if features is None
        else {
            "visits_12m": features.get("visits_12m"),
            "churn_risk": features.get("churn_risk"),
            "expected_next_visit_at": features.get("expected_next_visit_at"),
            "lifecycle": features.get("lifecycle"),
            "model_source": features.get("model_source"),
        }
    )
    _audit(ctx, state, "update_profile", summary, inputs={"customer_id": state["customer_id"]})
    return {"features": features or {}, "steps": ["update_profile"]}


def retrieve_context(state: OfferState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = runtime.context
    draft_input = build_draft_input(
        ctx,
        merchant_id=state["merchant_id"],
        customer_id=state["customer_id"],
        transaction_id=state["transaction_id"],
        features=state.get("features") or {},
    )
    data = jsonable(draft_input)
    _audit(
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
    )
    return {"draft_input": data, "steps": ["retrieve_context"]}


def draft_offer(state: OfferState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = runtime.context
    inp = DraftInput.model_validate(state["draft_input"])
    result = ctx.drafter.draft(
        inp, context=read_tool_context(ctx, inp, merchant_id=state["merchant_id"], customer_id=state["customer_id"])
    )
    meta = {
        "model": result.model,
        "prompt_version": result.prompt_version,
        "model_calls": result.model_calls,
        "tokens_in": result.tokens_in,
        "tokens_out": result.tokens_out,
        "fallback_reason": result.fallback_reason,
        "repaired": result.repaired,
    }
    offer = result.offer
    offer_id: str | None = None
    if offer.make_offer:
        offer_id = offer_id_for(state["event_id"])
        with session_scope(ctx.engine) as session:
            offers.save_draft(
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
    _audit(
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
    )
    return {"draft": jsonable(offer), "draft_meta": meta, "offer_id": offer_id, "steps": ["draft_offer"]}


def check_guardrails(state: OfferState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = runtime.context
    offer = OfferDraft.model_validate(state["draft"])
    gctx = guardrail_context(
        ctx,
        offer=offer,
        merchant_id=state["merchant_id"],
        customer_id=state["customer_id"],
        location_id=state.get("location_id"),
        offer_id=state.get("offer_id"),
        features=state.get("features"),
    )
    report = evaluate(gctx)
    review = state.get("review") or {}
    verdicts = [r.model_dump(mode="json") for r in report.results]
    offer_id = state.get("offer_id")
    if offer_id:
        to = (
            offers.BLOCKED
            if report.verdict == "block"
            else offers.APPROVED
            if _approved({**state, "verdict": report.verdict})
            else offers.PENDING_REVIEW
        )
        with session_scope(ctx.engine) as session:
            offers.record_verdicts(
                session,
                offer_id,
                to=to,
                verdict=report.verdict,
                verdicts=verdicts,
                offer_value_cents=round(gctx.offer_value_cents),
                send_at=report.send_at,
            )
    actor = f"reviewer:{review['reviewer']}" if review.get("action") == "edit" else "agent"
    _audit(
        ctx,
        state,
        "check_guardrails",
        {
            "verdict": report.verdict,
            "blocking": [r.rule for r in report.blocking],
            "escalating": [r.rule for r in report.escalating],
            "send_at": report.send_at.isoformat() if report.send_at else None,
        },
        verdicts=verdicts,
        actor=actor,
        inputs=state["draft"],
    )
    return {"verdict": report.verdict, "report": report.model_dump(mode="json"), "steps": ["check_guardrails"]}


def human_review(state: OfferState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Pause for a person (Agent Inbox-compatible interrupt); resumes with their decision."""
    ctx = runtime.context
    report = state.get("report") or {}
    decision = interrupt(
        {
            "action_request": {
                "action": "review_offer",
                "args": {"offer_id": state.get("offer_id"), "offer": state.get("draft")},
            },
            "config": {"allow_accept": True, "allow_edit": True, "allow_respond": False, "allow_ignore": True},
            "description": "Escalated: "
            + "; ".join(r["reason"] for r in report.get("results", []) if r.get("verdict") == "escalate"),
        }
    )
    action = decision.get("action")
    if action not in ("accept", "edit", "reject"):
        raise ReviewError(f"unknown review action {action!r}")
    update: dict[str, Any] = {"review": decision, "steps": ["human_review"]}
    if action == "edit":
        edits = decision.get("edits") or {}
        unknown = set(edits) - EDITABLE_FIELDS
        if unknown:
            raise ReviewError(f"fields not editable: {sorted(unknown)}")
        update["draft"] = jsonable(OfferDraft.model_validate({**(state.get("draft") or {}), **edits}))
    _audit(
        ctx,
        state,
        "human_review",
        {"action": action, "note": decision.get("note"), "edited_fields": sorted((decision.get("edits") or {}).keys())},
        actor=f"reviewer:{decision.get('reviewer')}",
    )
    offer_id = state.get("offer_id")
    if action == "reject" and offer_id:
        with session_scope(ctx.engine) as session:
            offers.reject(session, offer_id, reviewer=f"reviewer:{decision.get('reviewer')}")
    return update


def execute(state: OfferState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Create + attach the promo code (or accrue points) and schedule the message. Exactly once."""
    ctx = runtime.context
    offer_id = state["offer_id"]
    assert offer_id is not None
    if not _approved(state):  # defence in depth: the router already guarantees this
        raise RuntimeError(f"offer {offer_id} reached execute without an approved verdict")
    with Session(ctx.engine) as session:
        row = session.get(Offer, offer_id)
        customer = session.get(Customer, state["customer_id"])
        assert row is not None and customer is not None
        if row.status == offers.SENT:
            return {"steps": ["execute"]}
    offer = OfferDraft.model_validate(state["draft"])
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
    report = GuardrailReport.model_validate(state["report"])
    send_at = report.send_at or now
    body = offer.sms_text if offer.channel == "sms" else offer.email_body
    with session_scope(ctx.engine) as session:
        message = schedule_message(
            session,
            idempotency_key=idempotency_key(offer_id, f"message:{offer.channel}"),
            offer_id=offer_id,
            customer_id=state["customer_id"],
            channel=offer.channel,
            subject=offer.email_subject if offer.channel == "email" else None,
            body=body or "",
            scheduled_for=send_at,
            correlation_id=state["event_id"],
        )
        review = state.get("review") or {}
        offers.mark_sent(
            session,
            offer_id,
            promo_code=promo_code,
            scheduled_for=send_at,
            expires_at=expires_at,
            decided_by=f"reviewer:{review['reviewer']}" if review.get("action") in ("accept", "edit") else "agent",
            verdict=report.verdict,
            verdicts=[r.model_dump(mode="json") for r in report.results],
        )
        record_audit(
            session,
            correlation_id=state["event_id"],
            offer_id=offer_id,
            node="execute",
            outputs={
                "promo_code": promo_code,
                "message_id": message.id,
                "channel": offer.channel,
                "scheduled_for": send_at.isoformat(),
                "deferred": report.send_at is not None,
            },
        )
    return {"steps": ["execute"]}


def record(state: OfferState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = runtime.context
    outcome = _outcome(state)
    _audit(
        ctx,
        state,
        "record",
        {
            "outcome": outcome,
            "verdict": state.get("verdict"),
            "fallback_reason": (state.get("draft_meta") or {}).get("fallback_reason"),
        },
    )
    return {"outcome": outcome, "steps": ["record"]}


# ------------------------------------------------------------------------------------------- helpers


def _approved(state: OfferState) -> bool:
    """pass, or escalate with an accept/edit by a person allowed to approve."""
    verdict = state.get("verdict")
    review = state.get("review") or {}
    if verdict == "pass":
        return True
    return verdict == "escalate" and review.get("action") in ("accept", "edit") and review.get("role") in APPROVER_ROLES


def _outcome(state: OfferState) -> str:
    draft = state.get("draft") or {}
    if not draft.get("make_offer"):
        return "no_offer"
    if (state.get("review") or {}).get("action") == "reject":
        return "rejected"
    if state.get("verdict") == "block":
        return "blocked"
    return "sent" if "execute" in state.get("steps", []) else "pending_review"


# ------------------------------------------------------------------------------------------- routers


def route_after_draft(state: OfferState) -> Literal["check_guardrails", "record"]:
    return "check_guardrails" if (state.get("draft") or {}).get("make_offer") else "record"


def route_after_guardrails(state: OfferState) -> Literal["execute", "human_review", "record"]:
    if state.get("verdict") == "block":
        return "record"
    if _approved(state):
        return "execute"
    return "human_review"


def route_after_review(state: OfferState) -> Literal["check_guardrails", "execute", "record"]:
    action = (state.get("review") or {}).get("action")
    if action == "reject":
        return "record"
    if action == "edit":
        return "check_guardrails"  # an edit is re-checked by the same rules before anything executes
    return "execute" if _approved(state) else "check_guardrails"


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
builder.add_edge("update_profile", "retrieve_context")
builder.add_edge("retrieve_context", "draft_offer")
builder.add_conditional_edges("draft_offer", route_after_draft)
builder.add_conditional_edges("check_guardrails", route_after_guardrails)
builder.add_conditional_edges("human_review", route_after_review)
builder.add_edge("execute", "record")
builder.add_edge("record", END)

graph = builder.compile()
"""Without a checkpointer (LangGraph Studio / langgraph.json). The worker compiles with a durable one."""


def compile_with(checkpointer: Any) -> Any:
    return builder.compile(checkpointer=checkpointer)
