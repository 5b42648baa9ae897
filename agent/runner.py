"""The worker's offer runner and the review resume path: the offer graph with a durable checkpointer."""

from __future__ import annotations

import logging
import secrets
import threading
from typing import Any, Literal

from langgraph.types import Command
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.checkpointer import make_checkpointer
from agent.context import AgentContext
from agent.graph import compile_with
from agent.recheck import RecheckResult, recheck_customer
from agent.review import ReviewConflict, check_decision, reviewer_ref
from core.settings import Settings
from db import inbox, offers
from db.engine import session_scope
from db.ingest import OfferRunner, RecordedSale
from db.tables import InboxEvent, Offer
from db.types import utcnow
from guardrails.policy import load_policy
from profiles.features import ProfileFeatures
from profiles.fit import customer_features
from tools.errors import ToolUnavailable

log = logging.getLogger(__name__)

# Each step's checkpoint is saved before the next step starts, so a crashed decision resumes after the
# last node that finished (LangGraph's default, "async", lets a node start before the previous step's
# checkpoint is written; "exit" keeps only the final one).
DURABILITY: Literal["sync"] = "sync"


class OfferAgent:
    """The compiled offer graph plus its injected context. One per process."""

    def __init__(self, ctx: AgentContext, checkpointer: Any) -> None:
        self.ctx = ctx
        self.graph = compile_with(checkpointer)
        self._lock = threading.Lock()

    @staticmethod
    def config(event_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": event_id}}

    def run_event(self, event: InboxEvent, recorded: RecordedSale) -> str:
        """Run (or resume after a crash) the decision for one recorded sale; returns its outcome."""
        return self.run_thread(event.id, {"event_id": event.id, "transaction_id": recorded.transaction_id, "steps": []})

    def run_thread(self, thread_id: str, initial: dict[str, Any], *, context: AgentContext | None = None) -> str:
        """Run one decision thread from `initial` (a sale's event, or a campaign guest's injected values), or
        resume it from its last checkpoint after a crash; returns its outcome. A finished thread is never
        run twice, and one waiting for review stays there. `context` replaces the agent's own for this run
        (a campaign on a merchant's test clock)."""
        ctx = context or self.ctx
        config = self.config(thread_id)
        snapshot = self.graph.get_state(config)
        if snapshot.values and not snapshot.next:
            return str(snapshot.values.get("outcome") or "no_offer")  # already decided: never twice
        if snapshot.next:
            if any(task.interrupts for task in snapshot.tasks):
                return "pending_review"
            # Resume from the last checkpoint.
            result = self.graph.invoke(None, config, context=ctx, durability=DURABILITY)
        else:
            result = self.graph.invoke(initial, config, context=ctx, durability=DURABILITY)
        if result.get("__interrupt__"):
            return "pending_review"
        return str(result.get("outcome") or "no_offer")

    def review(self, offer_id: str, decision: dict[str, Any]) -> str:
        """Apply a reviewer's decision to an escalated offer; returns the new outcome.

        The decision is validated against the offer first (ReviewError: 422, ReviewForbidden: 403), so a
        refused body changes nothing. Then the offer is claimed (compare-and-set + lease; ReviewConflict
        when it is not waiting for review) and the graph resumes with the decision. Whatever fails, the
        claim is released: an offer never stays `reviewing` (and a dead process's lease expires).
        """
        with Session(self.ctx.engine) as session:
            row = session.get(Offer, offer_id)
        if row is None or row.event_id is None:
            raise ReviewConflict(f"offer {offer_id} has no decision to review")
        check_decision(offers.draft_from_row(row), decision)
        claim = f"{reviewer_ref(decision)}:{secrets.token_hex(4)}"
        if not offers.claim_review(self.ctx.engine, offer_id, reviewer=claim,
                                   lease_s=self.ctx.settings.review_lease_s):
            raise ReviewConflict(f"offer {offer_id} is {row.status!r}, not pending_review")
        config = self.config(row.event_id)
        try:
            snapshot = self.graph.get_state(config)
            if not any(task.interrupts for task in snapshot.tasks):
                if not snapshot.next:
                    raise ReviewConflict(f"the decision on offer {offer_id} is complete")
                # An earlier review's decision is checkpointed but the process died before it finished:
                # the worker completes it (re-checking every rule first); this decision is not applied.
                return self._hand_to_worker(offer_id, row.event_id)
            ctx, _now = self.ctx.on_merchant_clock(row.merchant_id)  # a sandbox on its test clock executes there
            result = self.graph.invoke(Command(resume=decision), config, context=ctx, durability=DURABILITY)
        except ToolUnavailable:
            # The decision is made and checkpointed; the POS/provider is down. Hand the thread back to
            # the worker, which resumes it at `execute` with the same idempotency keys.
            return self._hand_to_worker(offer_id, row.event_id)
        finally:
            offers.release_review(self.ctx.engine, offer_id, claim=claim)  # no-op once the graph moved it on
        outcome = "pending_review" if result.get("__interrupt__") else str(result.get("outcome"))
        with session_scope(self.ctx.engine) as session:
            inbox.record_outcome(session, event_id=row.event_id, outcome=outcome)
        return outcome

    def _hand_to_worker(self, offer_id: str, event_id: str) -> str:
        with session_scope(self.ctx.engine) as session:
            offers.hand_to_worker(session, offer_id)
            inbox.requeue_for_execution(session, event_id=event_id)
        return inbox.OUTCOME_EXECUTION_QUEUED

    def recheck_customer(self, customer_id: int) -> list[RecheckResult]:
        """After a profile change: re-check this guest's pending and scheduled offers (agent.recheck)."""
        results = recheck_customer(
            self.ctx,
            customer_id=customer_id,
            decision_values=lambda event_id: dict(self.graph.get_state(self.config(event_id)).values),
        )
        for r in results:
            log.info("profile re-check of customer %s: offer %s %s (%s)", customer_id, r.offer_id, r.action, r.detail)
        return results

    def profile_features(self, *, merchant_id: str, customer_id: int) -> ProfileFeatures | None:
        """The guest's profile features as of now, from the merchant's fitted model (None: no visits yet)."""
        with Session(self.ctx.engine) as session:
            return customer_features(
                session, customer_id=customer_id, model=self.ctx.merchant_model(merchant_id), now=self.ctx.now()
            )

    def close(self) -> None:
        if self.ctx.indexer is not None:
            self.ctx.indexer.close()
        close = getattr(self.ctx.drafter, "close", None)
        if callable(close):
            close()

    def pending_interrupt(self, event_id: str) -> bool:
        snapshot = self.graph.get_state(self.config(event_id))
        return any(task.interrupts for task in snapshot.tasks)


def build_agent(settings: Settings, engine: Engine, *, with_vectors: bool = True) -> OfferAgent:
    from agent.llm import get_drafter
    from tools.factory import make_pos_adapter

    embedder = store = indexer = None
    if with_vectors:
        from agent.indexing import VectorIndexer
        from vectorstore.factory import get_embedder, get_vector_store

        embedder = get_embedder(settings)
        store = get_vector_store(settings, dim=embedder.dim)
        indexer = VectorIndexer(store=store, embedder=embedder)
    ctx = AgentContext(
        settings=settings,
        engine=engine,
        policy=load_policy(settings.policy_file),
        drafter=get_drafter(settings),
        pos=make_pos_adapter(settings, engine),
        vector_store=store,
        embedder=embedder,
        indexer=indexer,
    )
    return OfferAgent(ctx, make_checkpointer(settings.database_url, str(settings.data_dir)))


_agents: dict[tuple[int, int], OfferAgent] = {}
_agents_lock = threading.Lock()


def get_agent(settings: Settings, engine: Engine) -> OfferAgent:
    """The process-wide agent for these settings (the API's review route and the worker share it)."""
    key = (id(settings), id(engine))
    with _agents_lock:
        agent = _agents.get(key)
        if agent is None:
            agent = _agents[key] = build_agent(settings, engine)
        return agent


def shutdown_agents() -> None:
    """Stop background work of every process-wide agent (application shutdown)."""
    with _agents_lock:
        agents = list(_agents.values())
        _agents.clear()
    for agent in agents:
        agent.close()


def make_offer_runner(settings: Settings, engine: Engine) -> OfferRunner:
    agent = get_agent(settings, engine)
    # Load spaCy/Presidio now, not at the first checkout whose guest has staff notes.
    agent.ctx.get_pseudonymizer()
    started = utcnow()
    log.info("offer agent ready (%s drafter) at %s", settings.llm_provider, started.isoformat())
    return agent.run_event
