"""Run-time context of the ask graph: clients and policy, injected; never chosen by the model.

`AskServices` is built once per process (it shares the offer agent's engine, policy, catalog and
merchant-model caches, vector store, embedder and pseudonymizer through `AgentContext`).
`AskContext` is that plus who is asking, made per question: the actor goes into every audit row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.ask.schemas import REFUSAL_INTENTS, AnswerDraft, Fact
from agent.context import AgentContext

POPULARITY_TTL_S = 300.0
# Open questions: what the deterministic answerer cannot answer completely.
DEFAULT_MODEL_INTENTS: frozenset[str] = frozenset({"item_history", "overview", "unsupported"})


class AnswerModel(Protocol):
    """What the graph needs of a model answerer (agent.ask.model.ModelAnswerer). A protocol so that the
    context, which the read-only tools import, does not import the model module that binds those tools."""

    def answer(
        self, *, question: str, intents: Sequence[str], facts: Sequence[Fact], tools: Any
    ) -> tuple[AnswerDraft | None, str | None, Any]: ...

    def close(self) -> None: ...


@dataclass
class AskServices:
    """Long-lived dependencies of the ask graph (one per process)."""

    agent: AgentContext
    answerer: AnswerModel | None = None
    """The model answerer; None = offline only (LLM_PROVIDER=offline, the default)."""
    model_intents: frozenset[str] = DEFAULT_MODEL_INTENTS
    """Intents the model answers when configured; every other question is answered offline."""
    _popularity: dict[str, tuple[dict[str, int], float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def popularity(self, merchant_id: str) -> dict[str, int]:
        """Orders per sku at this merchant (aggregate over all guests), cached POPULARITY_TTL_S."""
        now = time.monotonic()
        with self._lock:
            hit = self._popularity.get(merchant_id)
        if hit is not None and now - hit[1] < POPULARITY_TTL_S:
            return hit[0]
        from sqlmodel import Session

        from agent.ask.suggest import merchant_popularity

        with Session(self.agent.engine) as session:
            counts = merchant_popularity(session, merchant_id=merchant_id)
        with self._lock:
            self._popularity[merchant_id] = (counts, now)
        return counts

    def model_answers(self, intents: Collection[str]) -> bool:
        """Whether the model takes this question: configured, an open question, and no refusal."""
        if self.answerer is None or set(intents) & REFUSAL_INTENTS:
            return False
        return bool(set(intents) & self.model_intents)


@dataclass(frozen=True)
class AskContext:
    """What one question runs with: the services, the tenant, and who asks (for the audit trail)."""

    services: AskServices
    merchant_id: str
    actor: str
    """`associate:<key id>`, `manager:<key id>`, `cli`, `eval`: recorded on every audit row."""
