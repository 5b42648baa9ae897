"""Liveness and Prometheus metrics, including the decision workers' figures (read from the database, so
the API process answers for worker processes it shares nothing else with)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy import text

from api.deps import EngineDep
from db.inbox_stats import RATE_WINDOW_S, queue_stats

router = APIRouter(tags=["ops"])


@router.get("/healthz")
def healthz(engine: EngineDep) -> dict[str, Any]:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    stats = queue_stats(engine)
    return {
        "status": "ok",
        "workers": {
            "queue_depth": stats.depth,
            "queued": stats.queued,
            "processing": stats.processing,
            "oldest_queued_age_s": None if stats.oldest_queued_age_s is None else round(stats.oldest_queued_age_s, 3),
            "decisions_per_s": round(stats.decisions_per_s, 3),
            "failed": stats.failed,
            "retrying": stats.retrying,
            "alive_workers": stats.alive_workers,
            "busy_workers": stats.busy_workers,
        },
    }


@router.get("/metrics")
def metrics(engine: EngineDep) -> Response:
    stats = queue_stats(engine)
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, value: float) -> None:
        Gauge(name, doc, registry=registry).set(value)

    gauge("loyalty_inbox_queue_depth", "Inbox events queued or being processed.", stats.depth)
    gauge("loyalty_inbox_queued", "Inbox events waiting for a worker (due or backing off).", stats.queued)
    gauge("loyalty_inbox_processing", "Inbox events claimed by a worker.", stats.processing)
    gauge("loyalty_inbox_oldest_queued_age_seconds", "Age of the oldest waiting inbox event (0 when none).",
          stats.oldest_queued_age_s or 0.0)
    gauge("loyalty_decisions_per_second", f"Events finished per second over the last {RATE_WINDOW_S:.0f} s.",
          stats.decisions_per_s)
    gauge("loyalty_inbox_failed", "Inbox events that failed for good.", stats.failed)
    gauge("loyalty_inbox_retrying", "Inbox events queued again after an error.", stats.retrying)
    gauge("loyalty_inbox_done", "Inbox events finished.", stats.done)
    gauge("loyalty_workers_alive", "Workers whose loop beat recently (deciding or idle).", stats.alive_workers)
    gauge("loyalty_workers_busy", "Workers holding an unexpired lease on an event.", stats.busy_workers)
    return Response(generate_latest() + generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
