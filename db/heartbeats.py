"""Worker liveness: each inbox worker's loop touches its row every BEAT_EVERY_S; /healthz counts the rows
touched within ALIVE_WITHIN_S as alive workers, whether they are deciding or idle (busy ones are those
holding a lease, db.inbox_stats). A worker that stops cleanly removes its row; a killed one ages out, and
rows older than FORGET_AFTER_S are deleted by the next beat of any worker."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from db.engine import session_scope
from db.tables import WorkerHeartbeat
from db.types import utcnow

BEAT_EVERY_S = 5.0
ALIVE_WITHIN_S = 3 * BEAT_EVERY_S  # two beats may be missed (a long GC pause, a busy database)
FORGET_AFTER_S = 3600.0


def beat(engine: Engine, worker_id: str) -> None:
    now = utcnow()
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    with session_scope(engine) as session:
        session.execute(insert(WorkerHeartbeat).values(worker_id=worker_id, beat_at=now)
                        .on_conflict_do_update(index_elements=["worker_id"], set_={"beat_at": now}))
        session.execute(delete(WorkerHeartbeat).where(
            col(WorkerHeartbeat.beat_at) < now - timedelta(seconds=FORGET_AFTER_S)))


def forget(engine: Engine, worker_id: str) -> None:
    """The worker stopped cleanly: it is no longer counted, at once."""
    with session_scope(engine) as session:
        session.execute(delete(WorkerHeartbeat).where(col(WorkerHeartbeat.worker_id) == worker_id))


def alive_workers(session: Session, *, now: datetime) -> int:
    return int(session.execute(select(func.count()).select_from(WorkerHeartbeat).where(
        col(WorkerHeartbeat.beat_at) > now - timedelta(seconds=ALIVE_WITHIN_S))).scalar_one())
