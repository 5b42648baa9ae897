"""/healthz tells alive workers (their loop beats, deciding or idle) from busy ones (holding a lease)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from db.engine import session_scope
from db.heartbeats import ALIVE_WITHIN_S
from db.inbox import claim_events, enqueue_event
from db.inbox_stats import queue_stats
from db.types import utcnow
from loyalty_agent.worker import Worker
from tests.integration.conftest import make_settings


def test_idle_worker_is_alive_not_busy_and_leaves_when_stopped(engine: Engine, database_url: str,
                                                                tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path)
    idle = Worker(engine, settings, worker_id="idle")
    assert queue_stats(engine).alive_workers == 0
    idle.run_once()  # nothing queued: it beats and finds no work
    stats = queue_stats(engine)
    assert (stats.alive_workers, stats.busy_workers) == (1, 0)

    with session_scope(engine) as s:
        enqueue_event(s, provider="pos", provider_event_id="e1", event_type="sale.completed", payload={})
    assert claim_events(engine, worker_id="busy", limit=1)  # a worker holding a lease counts busy
    assert queue_stats(engine).busy_workers == 1

    # A worker that stops beating (killed) ages out; one that stops cleanly leaves at once.
    later = utcnow() + timedelta(seconds=ALIVE_WITHIN_S + 1)
    assert queue_stats(engine, now=later).alive_workers == 0
    idle.start_thread()
    idle.stop()
    idle.join(timeout=10)
    assert queue_stats(engine).alive_workers == 0
