"""Inbox claiming: concurrent workers never double-claim; failures retry with backoff; leases expire."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from db.engine import make_engine, session_scope
from db.inbox import claim_events, complete_event, enqueue_event
from db.tables import InboxEvent
from db.types import utcnow
from loyalty_agent.worker import Worker
from tests.integration.conftest import add_minimal_merchant, make_settings


def _enqueue(engine: Engine, n: int) -> None:
    with session_scope(engine) as s:
        for i in range(n):
            enqueue_event(s, provider="pos", provider_event_id=f"e{i}", event_type="sale.completed", payload={"i": i})


def test_two_workers_on_postgres_never_double_claim(postgres_url: str) -> None:
    engines = [make_engine(postgres_url), make_engine(postgres_url)]
    _enqueue(engines[0], 300)
    claimed: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)

    def work(k: int) -> None:
        barrier.wait()
        while True:
            rows = claim_events(engines[k], worker_id=f"w{k}", limit=7)
            if not rows:
                return
            for row in rows:
                claimed[k].append(row.id)
                assert complete_event(engines[k], event_id=row.id, worker_id=f"w{k}", outcome="no_offer")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    all_ids = claimed[0] + claimed[1]
    assert len(all_ids) == 300
    assert max(Counter(all_ids).values()) == 1, "an event was claimed twice"
    assert claimed[0] and claimed[1], "both workers should have taken a share"
    with Session(engines[0]) as s:
        assert all(r.status == "done" and r.attempts == 1 for r in s.exec(select(InboxEvent)))
    for e in engines:
        e.dispose()


def test_expired_lease_is_reclaimed_and_old_holder_cannot_complete(engine: Engine) -> None:
    _enqueue(engine, 1)
    [row] = claim_events(engine, worker_id="crashed", limit=5, lease_s=60)
    assert claim_events(engine, worker_id="other", limit=5) == []  # leased
    with Session(engine) as s:
        s.execute(update(InboxEvent).values(locked_until=utcnow() - timedelta(seconds=1)))
        s.commit()
    [again] = claim_events(engine, worker_id="other", limit=5)
    assert again.id == row.id and again.attempts == 2
    assert not complete_event(engine, event_id=row.id, worker_id="crashed", outcome="x")
    assert complete_event(engine, event_id=row.id, worker_id="other", outcome="no_offer")


def test_transient_failure_retries_then_succeeds(engine: Engine, database_url: str, tmp_path: Path) -> None:
    add_minimal_merchant(engine)
    settings = make_settings(database_url, tmp_path, worker_backoff_base_s=0.0)
    calls: list[str] = []

    def flaky_runner(event: InboxEvent, recorded: object) -> str:
        calls.append(event.id)
        if len(calls) < 3:
            raise ConnectionError("POS unreachable")
        return "sent"

    payload = {"event": "sale.completed", "event_id": "evt_f", "created_at": "2026-01-15T14:30:00Z",
               "data": {"id": "t1", "location_id": "loc_1", "customer_id": "c1",
                        "line_items": [{"sku": "A", "name": "A", "quantity": 1, "price": 5}],
                        "total_money": {"amount": 500, "currency": "USD"}}}
    with session_scope(engine) as s:
        event_id = enqueue_event(s, provider="pos", provider_event_id="evt_f", event_type="sale.completed",
                                 payload=payload).event_id
    worker = Worker(engine, settings, offer_runner=flaky_runner, worker_id="w")
    for _ in range(10):
        worker.run_once()
    with Session(engine) as s:
        row = s.get(InboxEvent, event_id)
        assert row is not None
        assert row.status == "done" and row.outcome == "sent" and row.attempts == 3
        assert len(calls) == 3
        # The sale was recorded once even though the runner ran three times.
        from db.tables import PosTransaction

        assert len(s.exec(select(PosTransaction).where(col(PosTransaction.pos_transaction_id) == "t1")).all()) == 1


def test_permanent_failure_is_marked_failed_with_reason(engine: Engine, database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path)
    with session_scope(engine) as s:
        event_id = enqueue_event(s, provider="pos", provider_event_id="bad", event_type="sale.completed",
                                 payload={"event": "sale.completed"}).event_id
    Worker(engine, settings, worker_id="w").run_once()
    with Session(engine) as s:
        row = s.get(InboxEvent, event_id)
        assert row is not None and row.status == "failed" and "no longer validates" in (row.last_error or "")
