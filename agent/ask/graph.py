"""The associate Q&A graph: one question about the guest in front of the associate.

classify -> gather -> answer -> verify -> respond
                                  | failed
                                  v
                               fallback (model answer -> offline answer -> verify again;
                                         offline answer -> abstain -> respond)

Every node appends one audit row with the actor who asked (`AskContext.actor`). The guest is
resolved before the run (unknown POS id -> 404, no run); every node reads only that guest's data.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from sqlmodel import Session

from agent.ask.classify import classify as classify_question
from agent.ask.context import AskContext
from agent.ask.gather import gather_facts
from agent.ask.guest import GuestRef, guest_contact, load_customer
from agent.ask.offline import OFFLINE_MODEL_NAME, OFFLINE_VERSION, answer_offline
from agent.ask.schemas import AnswerDraft, AskAnswer, Fact
from agent.ask.state import AskState
from agent.ask.verify import verify_answer
from db.engine import session_scope
from tools.audit import record_audit

ABSTAIN_TEXT = "I can't give a checked answer to that from this guest's records. Please ask the guest."


def _ref(state: AskState, ctx: AskContext) -> GuestRef:
    return GuestRef(
        customer_id=state["customer_id"], merchant_id=ctx.merchant_id, pos_customer_id=state["pos_customer_id"]
    )


def _audit(ctx: AskContext, state: AskState, node: str, outputs: dict[str, Any], **kw: Any) -> None:
    with session_scope(ctx.services.agent.engine) as session:
        record_audit(
            session, correlation_id=state["ask_id"], node=f"ask.{node}", outputs=outputs, actor=ctx.actor, **kw
        )


def _facts(state: AskState, draft: AnswerDraft | None = None) -> list[Fact]:
    facts = [Fact.model_validate(f) for f in state.get("facts") or []]
    return facts + (draft.extra_facts if draft is not None else [])


# --------------------------------------------------------------------------------------------- nodes


def classify(state: AskState, runtime: Runtime[AskContext]) -> dict[str, Any]:
    ctx = runtime.context
    result = classify_question(state["question"], own_ids=(state["pos_customer_id"],))
    _audit(
        ctx,
        state,
        "classify",
        {"intents": list(result.intents), "reason": result.reason, "question_chars": len(state["question"])},
        inputs=state["question"],
    )
    return {"intents": list(result.intents), "steps": ["classify"]}


def gather(state: AskState, runtime: Runtime[AskContext]) -> dict[str, Any]:
    ctx = runtime.context
    intents = state["intents"]
    if "other_guest" in intents:  # nothing is read for a question about someone else
        _audit(ctx, state, "gather", {"facts": 0, "skipped": "question about another guest"})
        return {"facts": [], "steps": ["gather"]}
    gathered = gather_facts(
        ctx, _ref(state, ctx), intents=intents, question=state["question"], full=ctx.services.model_answers(intents)
    )
    _audit(
        ctx,
        state,
        "gather",
        {**gathered.summary, "fact_ids": [f.id for f in gathered.facts]},
        inputs={"intents": intents, "customer_id": state["customer_id"]},
    )
    return {"facts": [f.model_dump(mode="json") for f in gathered.facts], "steps": ["gather"]}


def answer(state: AskState, runtime: Runtime[AskContext]) -> dict[str, Any]:
    ctx = runtime.context
    services = ctx.services
    facts = _facts(state)
    fallback_reason: str | None = None
    draft: AnswerDraft | None = None
    spent: dict[str, int] = {}
    if services.model_answers(state["intents"]) and services.answerer is not None:
        from agent.ask.tools import AskToolData

        tools = AskToolData(ctx=ctx, ref=_ref(state, ctx), question=state["question"])
        draft, fallback_reason, usage = services.answerer.answer(
            question=state["question"], intents=state["intents"], facts=facts, tools=tools
        )
        spent = {"model_calls": usage.model_calls, "tokens_in": usage.tokens_in, "tokens_out": usage.tokens_out}
    if draft is None:  # offline by configuration, or the model was late, failing or malformed
        draft = answer_offline(state["intents"], facts, state["question"])
        draft = draft.model_copy(update={"fallback_reason": fallback_reason, **spent})
    _audit(
        ctx,
        state,
        "answer",
        _draft_summary(draft),
        model=draft.model,
        prompt_version=draft.prompt_version,
        inputs=[f.id for f in facts],
    )
    return {"draft": draft.model_dump(mode="json"), "fallback_reason": fallback_reason, "steps": ["answer"]}


def verify(state: AskState, runtime: Runtime[AskContext]) -> dict[str, Any]:
    ctx = runtime.context
    draft = AnswerDraft.model_validate(state["draft"])
    ref = _ref(state, ctx)
    with Session(ctx.services.agent.engine) as session:
        customer, _location = load_customer(session, ref)
        known_values, _note = guest_contact(session, ref)
    result = verify_answer(
        draft,
        facts=_facts(state, draft),
        allergies=customer.allergies,
        known_values=known_values,
        own_pos_id=state["pos_customer_id"],
        intents=state["intents"],
    )
    _audit(
        ctx,
        state,
        "verify",
        {"passed": result.passed, "problems": result.problems, "model": draft.model},
        model=draft.model,
        prompt_version=draft.prompt_version,
    )
    return {"verified": result.passed, "problems": result.problems, "steps": ["verify"]}


def fallback(state: AskState, runtime: Runtime[AskContext]) -> dict[str, Any]:
    """A failed model answer is replaced by the offline answer (verified again); a failed offline
    answer by an abstention."""
    ctx = runtime.context
    failed = AnswerDraft.model_validate(state["draft"])
    reason = "failed verification: " + "; ".join(state.get("problems") or [])[:280]
    if failed.model != OFFLINE_MODEL_NAME:
        draft = answer_offline(state["intents"], _facts(state), state["question"])
        draft = draft.model_copy(
            update={
                "fallback_reason": reason,
                "model_calls": failed.model_calls,
                "tokens_in": failed.tokens_in,
                "tokens_out": failed.tokens_out,
            }
        )
    else:
        draft = AnswerDraft(
            answer=ABSTAIN_TEXT,
            abstained=True,
            model=OFFLINE_MODEL_NAME,
            prompt_version=OFFLINE_VERSION,
            fallback_reason=reason,
        )
    _audit(
        ctx,
        state,
        "fallback",
        {"replaced": failed.model, **_draft_summary(draft)},
        model=draft.model,
        prompt_version=draft.prompt_version,
    )
    verified = failed.model == OFFLINE_MODEL_NAME  # the constant abstention holds no claim to check
    return {
        "draft": draft.model_dump(mode="json"),
        "fallback_reason": reason,
        "verified": verified,
        "problems": [],
        "steps": ["fallback"],
    }


def respond(state: AskState, runtime: Runtime[AskContext]) -> dict[str, Any]:
    ctx = runtime.context
    draft = AnswerDraft.model_validate(state["draft"])
    by_id = {f.id: f for f in _facts(state, draft)}
    out = AskAnswer(
        answer=draft.answer,
        citations=[by_id[i].citation() for i in draft.cited_ids if i in by_id],
        abstained=draft.abstained,
        model=draft.model,
        prompt_version=draft.prompt_version,
    )
    _audit(
        ctx,
        state,
        "respond",
        {
            "citations": [c.id for c in out.citations],
            "abstained": out.abstained,
            "answer_chars": len(out.answer),
            "fallback_reason": state.get("fallback_reason"),
        },
        model=out.model,
        prompt_version=out.prompt_version,
    )
    return {"answer": out.model_dump(mode="json"), "steps": ["respond"]}


def _draft_summary(draft: AnswerDraft) -> dict[str, Any]:
    return {
        "model": draft.model,
        "cited_ids": draft.cited_ids,
        "abstained": draft.abstained,
        "model_calls": draft.model_calls,
        "tokens_in": draft.tokens_in,
        "tokens_out": draft.tokens_out,
        "fallback_reason": draft.fallback_reason,
        "tool_facts": [f.id for f in draft.extra_facts],
    }


# ------------------------------------------------------------------------------------------- routers


def route_after_verify(state: AskState) -> Literal["respond", "fallback"]:
    return "respond" if state.get("verified") else "fallback"


def route_after_fallback(state: AskState) -> Literal["respond", "verify"]:
    # An abstention is the last resort and holds no claim to check; an offline answer is checked.
    return "respond" if state.get("verified") else "verify"


builder = StateGraph(AskState, context_schema=AskContext)
builder.add_node(classify)
builder.add_node(gather)
builder.add_node(answer)
builder.add_node(verify)
builder.add_node(fallback)
builder.add_node(respond)
builder.add_edge(START, "classify")
builder.add_edge("classify", "gather")
builder.add_edge("gather", "answer")
builder.add_edge("answer", "verify")
builder.add_conditional_edges("verify", route_after_verify)
builder.add_conditional_edges("fallback", route_after_fallback)
builder.add_edge("respond", END)

graph = builder.compile()
"""No checkpointer: a question is answered in one pass with no interrupt to resume."""
