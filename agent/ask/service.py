"""The ask agent: the compiled Q&A graph plus its services, and the one call the API and CLI make.

    agent = get_ask_agent(settings, engine)
    result = agent.ask("cust_000123", "any allergies?", actor="associate:7")

The guest is resolved from the POS id before the graph runs, so an unknown guest is an
`UnknownGuestError` (the API's 404) and no node ever runs for it.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.ask.context import AskContext, AskServices
from agent.ask.graph import graph
from agent.ask.guest import UnknownGuestError, resolve_guest
from agent.ask.schemas import AnswerDraft, AskAnswer, AskResult
from agent.context import AgentContext
from core.settings import Settings

MAX_QUESTION_CHARS = 1000

__all__ = ["MAX_QUESTION_CHARS", "AskAgent", "UnknownGuestError", "get_ask_agent"]


class AskAgent:
    """One per process: answers questions about one guest at a time, for any actor."""

    def __init__(self, services: AskServices, *, merchant_id: str) -> None:
        self.services = services
        self.merchant_id = merchant_id

    def ask(self, pos_customer_id: str, question: str, *, actor: str) -> AskResult:
        """Answer `question` about the guest with this POS id; raises UnknownGuestError, ValueError."""
        question = question.strip()
        if not question:
            raise ValueError("question is empty")
        if len(question) > MAX_QUESTION_CHARS:
            raise ValueError(f"question longer than {MAX_QUESTION_CHARS} characters")
        with Session(self.services.agent.engine) as session:
            ref = resolve_guest(session, merchant_id=self.merchant_id, pos_customer_id=pos_customer_id)
        ask_id = "ask_" + uuid.uuid4().hex[:20]
        ctx = AskContext(services=self.services, merchant_id=self.merchant_id, actor=actor)
        state = graph.invoke(
            {
                "ask_id": ask_id,
                "question": question,
                "pos_customer_id": ref.pos_customer_id,
                "customer_id": ref.customer_id,
                "steps": [],
            },
            context=ctx,
        )
        draft = AnswerDraft.model_validate(state["draft"])
        return AskResult(
            ask_id=ask_id,
            answer=AskAnswer.model_validate(state["answer"]),
            intents=state["intents"],
            retrieved_ids=[f["id"] for f in state.get("facts") or []] + [f.id for f in draft.extra_facts],
            verification_problems=state.get("problems") or [],
            fallback_reason=state.get("fallback_reason"),
            model_calls=draft.model_calls,
            tokens_in=draft.tokens_in,
            tokens_out=draft.tokens_out,
        )


    def close(self) -> None:
        """Stop the model answerer's worker threads (pending calls are cancelled)."""
        if self.services.answerer is not None:
            self.services.answerer.close()


def build_ask_agent(settings: Settings, agent_ctx: AgentContext, **overrides: Any) -> AskAgent:
    """An ask agent on an offer agent's context; with LLM_PROVIDER=openai the model takes open
    questions within the checkout budget, the offline answerer the rest and every fallback."""
    answerer = None
    if settings.llm_provider == "openai":
        from agent.ask.model import ModelAnswerer

        answerer = ModelAnswerer.from_settings(settings)
    services = AskServices(agent=agent_ctx, answerer=answerer, **overrides)
    return AskAgent(services, merchant_id=settings.default_merchant_id)


_agents: dict[tuple[int, int], AskAgent] = {}
_lock = threading.Lock()


def get_ask_agent(settings: Settings, engine: Engine) -> AskAgent:
    """The process-wide ask agent for these settings (shares the offer agent's clients and caches)."""
    from agent.runner import get_agent

    key = (id(settings), id(engine))
    with _lock:
        found = _agents.get(key)
    if found is not None:
        return found
    ask_agent = build_ask_agent(settings, get_agent(settings, engine).ctx)
    with _lock:
        return _agents.setdefault(key, ask_agent)
