"""The offer graph end to end on a seeded sandbox: real database, real embedded Qdrant, real
LangGraph checkpointer, offline drafter. (Embeddings use the deterministic hashing embedder here to
keep the suite fast; the real MiniLM model is covered by the vector store's own integration tests.)"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.checkpointer import make_checkpointer
from agent.context import AgentContext
from agent.indexing import index_merchant
from agent.llm import get_drafter
from agent.runner import OfferAgent
from core.events import SaleChecks, SaleCompleted
from db.engine import session_scope
from db.inbox import enqueue_event
from db.ingest import RecordedSale, record_sale
from db.tables import AuditEvent, InboxEvent, Offer, OutboundMessage, PromoCode
from guardrails.policy import default_policy
from sandbox.replay import sample_sales
from sandbox.seed import seed_database
from tests.integration.conftest import make_settings
from tools.errors import ToolUnavailable
from tools.pos.sandbox import SandboxPos
from vectorstore.edge_backend import EdgeVectorStore
from vectorstore.embeddings import HashingEmbedder

NOW = datetime(2026, 11, 20, 18, 30, tzinfo=UTC)  # a Friday evening after the seeded year


@dataclass
class Sandbox:
    engine: Engine
    agent: OfferAgent
    pos: Any


class FlakyPos:
    """Wraps the sandbox POS; the first `fail_attach` attach calls raise ToolUnavailable (POS down)."""

    def __init__(self, inner: SandboxPos, fail_attach: int = 0) -> None:
        self.inner, self.fail_attach, self.name = inner, fail_attach, inner.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def attach_promo_to_customer(self, **kw: Any) -> Any:
        if self.fail_attach > 0:
            self.fail_attach -= 1
            raise ToolUnavailable("pos", attempts=3, last_error=ConnectionRefusedError("connection refused"))
        return self.inner.attach_promo_to_customer(**kw)


@pytest.fixture
def sandbox(database_url: str, engine: Engine, tmp_path: Path) -> Iterator[Sandbox]:
    settings = make_settings(database_url, tmp_path)
    seed_database(engine, customers=160, months=12, seed=7)
    store = EdgeVectorStore(tmp_path / "qdrant")
    embedder = HashingEmbedder(dim=64)
    store.ensure_collections(embedder.dim)
    with Session(engine) as session:
        index_merchant(session, merchant_id="m_sandbox", store=store, embedder=embedder, now=NOW)
    pos = FlakyPos(SandboxPos(engine))
    ctx = AgentContext(settings=settings, engine=engine, policy=default_policy(), drafter=get_drafter(settings),
                       pos=pos, vector_store=store, embedder=embedder, clock=lambda: NOW)
    agent = OfferAgent(ctx, make_checkpointer(database_url, str(tmp_path)))
    yield Sandbox(engine, agent, pos)
    store.close()


def ingest(sb: Sandbox, sale: dict[str, Any]) -> tuple[InboxEvent, Any]:
    parsed = SaleCompleted.model_validate(sale)
    with session_scope(sb.engine) as s:
        event_id = enqueue_event(s, provider="pos", provider_event_id=parsed.event_id, event_type=parsed.event,
                                 payload=json.loads(json.dumps(sale))).event_id
    with session_scope(sb.engine) as s:
        recorded = record_sale(s, sale=parsed, event_id=event_id, pseudonym_secret="t", checks=SaleChecks())
        event = s.get(InboxEvent, event_id)
    assert event is not None
    return event, recorded


def count(engine: Engine, model: Any, *where: Any) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(model).where(*where)).one())


def test_replayed_sales_get_sensible_decisions_and_execute_once(sandbox: Sandbox) -> None:
    sales = [s for s in sample_sales(sandbox.engine, count=60, seed=11, now=NOW) if s["data"].get("customer_id")]
    runs = [ingest(sandbox, s) for s in sales]
    outcomes = Counter(sandbox.agent.run_event(e, r) for e, r in runs)
    assert set(outcomes) <= {"sent", "pending_review", "blocked", "no_offer"}
    assert outcomes["sent"] >= 1 and outcomes["no_offer"] >= 1, outcomes

    with Session(sandbox.engine) as s:
        offers = s.exec(select(Offer)).all()
        for offer in offers:
            # Nothing reaches execution without an approving verdict set.
            if offer.status == "sent":
                assert offer.verdict == "pass" or (offer.decided_by and offer.decided_by.startswith("reviewer:"))
                assert offer.verdicts and all(v["verdict"] != "block" for v in offer.verdicts)
            if offer.verdict == "block":
                assert offer.status == "blocked"
                assert count(sandbox.engine, PromoCode, col(PromoCode.offer_id) == offer.id) == 0
        sent = [o for o in offers if o.status == "sent"]
        assert all(o.promo_code or o.offer_type == "bonus_points" for o in sent)
        assert len({o.event_id for o in offers}) == len(offers)  # one offer per decision
        # Every node of every decision is in the audit trail, correlated to the event.
        for event, _ in runs[:5]:
            nodes = [a.node for a in s.exec(select(AuditEvent).where(col(AuditEvent.correlation_id) == event.id)
                                            .order_by(col(AuditEvent.id)))]
            assert nodes[:4] == ["load_transaction", "update_profile", "retrieve_context", "draft_offer"]
            assert "record" in nodes or "human_review" not in nodes

    promos, messages = count(sandbox.engine, PromoCode), count(sandbox.engine, OutboundMessage)
    # Re-running every decision (worker retries, duplicate deliveries) changes nothing.
    again = Counter(sandbox.agent.run_event(e, r) for e, r in runs)
    assert again == outcomes
    assert count(sandbox.engine, PromoCode) == promos and count(sandbox.engine, OutboundMessage) == messages
    assert messages == len(sent)


def test_crash_in_execute_resumes_without_duplicate_effects(sandbox: Sandbox) -> None:
    sales = [s for s in sample_sales(sandbox.engine, count=80, seed=5, now=NOW) if s["data"].get("customer_id")]
    sandbox.pos.fail_attach = 1
    failed_at = None
    for sale in sales:
        event, recorded = ingest(sandbox, sale)
        try:
            sandbox.agent.run_event(event, recorded)
        except ToolUnavailable:
            failed_at = (event, recorded)
            break
    if failed_at is None:
        pytest.skip("no offer reached execute in this sample")
    event, recorded = failed_at
    offer_id = sandbox.agent.graph.get_state(sandbox.agent.config(event.id)).values["offer_id"]
    # The promo code was created before the crash; the decision is not lost.
    assert count(sandbox.engine, PromoCode, col(PromoCode.offer_id) == offer_id) == 1
    assert sandbox.agent.run_event(event, recorded) == "sent"  # the retry resumes at execute
    assert sandbox.agent.run_event(event, recorded) == "sent"
    assert count(sandbox.engine, PromoCode, col(PromoCode.offer_id) == offer_id) == 1
    assert count(sandbox.engine, OutboundMessage, col(OutboundMessage.offer_id) == offer_id) == 1


def _pending(sandbox: Sandbox, seed: int) -> Offer | None:
    for sale in sample_sales(sandbox.engine, count=120, seed=seed, now=NOW):
        if not sale["data"].get("customer_id"):
            continue
        event, recorded = ingest(sandbox, sale)
        if sandbox.agent.run_event(event, recorded) == "pending_review":
            with Session(sandbox.engine) as s:
                return s.exec(select(Offer).where(col(Offer.event_id) == event.id)).one()
    return None


def test_review_accept_edit_and_reject(sandbox: Sandbox) -> None:
    offer = _pending(sandbox, seed=21)
    if offer is None:
        pytest.skip("no escalation in this sample")
    # A reviewer edit that breaks a hard rule is re-checked and blocked: nothing executes.
    outcome = sandbox.agent.review(offer.id, {"action": "edit", "edits": {"offer_type": "percent_off_item",
                                                                       "discount_pct": 100.0,
                                                                       "sku": offer.sku},
                                           "reviewer": 1, "role": "manager", "note": "go big"})
    assert outcome == "blocked"
    assert count(sandbox.engine, PromoCode, col(PromoCode.offer_id) == offer.id) == 0
    with Session(sandbox.engine) as s:
        row = s.get(Offer, offer.id)
        assert row is not None and row.status == "blocked"
        actors = {a.actor for a in s.exec(select(AuditEvent).where(col(AuditEvent.offer_id) == offer.id))}
        assert "reviewer:1" in actors

    second = _pending(sandbox, seed=22)
    if second is None:
        pytest.skip("only one escalation in this sample")
    assert sandbox.agent.review(second.id, {"action": "accept", "reviewer": 2, "role": "manager"}) == "sent"
    assert count(sandbox.engine, PromoCode, col(PromoCode.offer_id) == second.id) <= 1
    assert count(sandbox.engine, OutboundMessage, col(OutboundMessage.offer_id) == second.id) == 1


def test_accept_while_pos_is_down_queues_execution_for_the_worker(sandbox: Sandbox) -> None:
    offer = _pending(sandbox, seed=31)
    if offer is None:
        pytest.skip("no escalation in this sample")
    sandbox.pos.fail_attach = 1
    assert sandbox.agent.review(offer.id, {"action": "accept", "reviewer": 3, "role": "manager"}) == "execution_queued"
    with Session(sandbox.engine) as s:
        event = s.get(InboxEvent, offer.event_id)
        row = s.get(Offer, offer.id)
        assert event is not None and row is not None
        assert event.status == "queued" and row.status == "approved"
    # The worker picks the event up again; the graph resumes at execute: one promo code, one message.
    assert row.transaction_id is not None
    recorded = RecordedSale(row.transaction_id, row.customer_id, row.merchant_id, created=False)
    assert sandbox.agent.run_event(event, recorded) == "sent"
    assert sandbox.agent.run_event(event, recorded) == "sent"
    assert count(sandbox.engine, PromoCode, col(PromoCode.offer_id) == offer.id) <= 1
    assert count(sandbox.engine, OutboundMessage, col(OutboundMessage.offer_id) == offer.id) == 1
