"""How the decision workers are doing, read from the inbox table (read-only).

Worker processes share nothing with the API process but the database, so the figures are computed
from `inbox_event` rows and any process (the API's /healthz and /metrics, a worker, a CLI) gets the
same answer: queue depth, age of the oldest waiting event, decisions per second over a recent window,
failures, how many workers are alive (their heartbeat, db.heartbeats) and how many of them hold a lease
on an event right now (busy).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from db.heartbeats import alive_workers
from db.inbox import DONE, FAILED, PROCESSING, QUEUED
from db.tables import InboxEvent
from db.types import utcnow

RATE_WINDOW_S = 60.0


@dataclass(frozen=True)
class QueueStats:
    queued: int  # waiting, due now or backing off
    processing: int  # claimed by a worker
    done: int
    failed: int  # gave up (permanent error or out of attempts)
    retrying: int  # queued again after an error
    oldest_queued_age_s: float | None  # how long the oldest waiting event has waited
    decided_last_window: int  # events finished in the last RATE_WINDOW_S
    alive_workers: int  # workers whose loop beat recently, deciding or idle
    busy_workers: int  # distinct workers holding an unexpired lease on an event

    @property
    def decisions_per_s(self) -> float:
        return self.decided_last_window / RATE_WINDOW_S

    @property
    def depth(self) -> int:
        return self.queued + self.processing


def queue_stats(engine: Engine, *, now: datetime | None = None) -> QueueStats:
    at = now or utcnow()
    ev = InboxEvent
    with Session(engine) as session:
        counts = dict(session.execute(
            select(col(ev.status), func.count()).group_by(col(ev.status))  # type: ignore[call-overload]
        ).all())
        oldest = session.execute(select(func.min(col(ev.received_at))).where(col(ev.status) == QUEUED)).scalar()
        retrying = session.execute(select(func.count()).where(
            col(ev.status) == QUEUED, col(ev.last_error).is_not(None))).scalar_one()
        window_start = at - timedelta(seconds=RATE_WINDOW_S)
        decided = session.execute(select(func.count()).where(
            col(ev.status).in_((DONE, FAILED)), col(ev.processed_at) >= window_start)).scalar_one()
        alive = alive_workers(session, now=at)
        busy = session.execute(select(func.count(func.distinct(col(ev.locked_by)))).where(
            col(ev.status) == PROCESSING, col(ev.locked_until) > at)).scalar_one()
    return QueueStats(
        queued=int(counts.get(QUEUED, 0)), processing=int(counts.get(PROCESSING, 0)),
        done=int(counts.get(DONE, 0)), failed=int(counts.get(FAILED, 0)), retrying=int(retrying),
        oldest_queued_age_s=None if oldest is None else max(0.0, (at - oldest).total_seconds()),
        decided_last_window=int(decided), alive_workers=alive, busy_workers=int(busy),
    )
