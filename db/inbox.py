"""The durable webhook inbox: enqueue (deduplicated), claim, complete, fail with backoff.

Every write of `inbox_event.status` goes through the functions below.

Row life cycle (`inbox_event.status`):
    (webhook) queued --claim_events--> processing --complete_event--> done
                 ^                          |  --fail_event, attempts left--> queued (backoff)
                 |                          |  --fail_event, permanent / out of attempts--> failed
                 |                          |  --fail_event, infrastructure down--> queued (attempt given back)
                 |                          +--lease expired (worker died)--> claimable again
                 +--requeue_for_execution-- done (a review accepted while the POS was down)

While a row is `processing`, `locked_by`/`locked_until` are the worker's lease; completing or failing
checks the lease (compare-and-set), so a worker that lost it changes nothing. `outcome` records what
the decision came to (sent | pending_review | blocked | rejected | no_offer | profile_updated |
execution_queued ...); a review or a profile re-check updates it after the event is done.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from db.tables import InboxEvent
from db.types import utcnow

QUEUED = "queued"
PROCESSING = "processing"
DONE = "done"
FAILED = "failed"
INBOX_STATUSES: tuple[str, ...] = (QUEUED, PROCESSING, DONE, FAILED)

OUTCOME_EXECUTION_QUEUED = "execution_queued"
INFRASTRUCTURE_RETRY_S = 30.0  # longest wait between retries of an event held up by an outage


def new_event_id() -> str:
    return "ev_" + secrets.token_hex(12)


@dataclass(frozen=True)
class EnqueueResult:
    event_id: str
    duplicate: bool


def enqueue_event(session: Session, *, provider: str, provider_event_id: str, event_type: str,
                  payload: dict[str, Any], merchant_id: str | None = None) -> EnqueueResult:
    """Insert once per (provider, provider_event_id); a duplicate returns the first row's id.

    Uses INSERT .. ON CONFLICT DO NOTHING so concurrent duplicate posts never raise and
    never create two rows.
    """
    now = utcnow()
    row = {
        "id": new_event_id(), "provider": provider, "provider_event_id": provider_event_id,
        "event_type": event_type, "merchant_id": merchant_id, "payload": payload, "status": QUEUED,
        "attempts": 0, "next_attempt_at": now, "received_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (insert_fn(InboxEvent).values(**row)
            .on_conflict_do_nothing(index_elements=["provider", "provider_event_id"])
            .returning(col(InboxEvent.id)))
    inserted = session.execute(stmt).scalar_one_or_none()
    if inserted is not None:
        return EnqueueResult(event_id=inserted, duplicate=False)
    existing = session.execute(
        select(col(InboxEvent.id)).where(col(InboxEvent.provider) == provider,
                                         col(InboxEvent.provider_event_id) == provider_event_id)
    ).scalar_one()
    return EnqueueResult(event_id=existing, duplicate=True)


def enqueue_event_alone(engine: Engine, **kwargs: Any) -> EnqueueResult:
    """`enqueue_event` as a transaction of its own (the webhook's only write). Its INSERT .. ON CONFLICT is
    one atomic statement, so it runs on an autocommit connection: no BEGIN/COMMIT round trip, and nothing
    can be half-written."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn, Session(bind=conn) as session:
        return enqueue_event(session, **kwargs)


def get_event(session: Session, *, event_id: str) -> InboxEvent | None:
    """By our id, or by the provider's event id as a convenience."""
    row = session.get(InboxEvent, event_id)
    if row is not None:
        return row
    return session.execute(
        select(InboxEvent).where(InboxEvent.provider_event_id == event_id)  # type: ignore[arg-type]
        .order_by(InboxEvent.received_at)  # type: ignore[arg-type]
    ).scalars().first()


def claim_events(engine: Engine, *, worker_id: str, limit: int = 10, lease_s: float = 120.0,
                 max_attempts: int = 5) -> list[InboxEvent]:
    """Claim up to `limit` due rows for this worker.

    Postgres: SELECT .. FOR UPDATE SKIP LOCKED, so concurrent workers never take the same row.
    SQLite: one writer at a time; the conditional UPDATE makes the claim a compare-and-set.
    A row whose lease expired (worker crashed mid-event) becomes claimable again.
    """
    now = utcnow()
    due = or_(
        (InboxEvent.status == QUEUED) & (InboxEvent.next_attempt_at <= now),  # type: ignore[arg-type,operator]
        (InboxEvent.status == PROCESSING) & (InboxEvent.locked_until < now),  # type: ignore[arg-type,operator]
    )
    with Session(engine, expire_on_commit=False) as session:
        query = (select(col(InboxEvent.id)).where(due).where(InboxEvent.attempts < max_attempts)  # type: ignore[arg-type,operator]
                 .order_by(InboxEvent.received_at).limit(limit))  # type: ignore[arg-type]
        if engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(session.execute(query).scalars())
        if not ids:
            session.rollback()
            return []
        lease = now + timedelta(seconds=lease_s)
        result = session.execute(
            update(InboxEvent).where(InboxEvent.id.in_(ids)).where(due)  # type: ignore[attr-defined]
            .values(status=PROCESSING, locked_by=worker_id, locked_until=lease,
                    attempts=InboxEvent.attempts + 1)
            .returning(col(InboxEvent.id))
        )
        claimed = set(result.scalars())
        session.commit()
        rows = session.execute(select(InboxEvent).where(InboxEvent.id.in_(claimed))  # type: ignore[attr-defined]
                               .order_by(InboxEvent.received_at)).scalars().all()  # type: ignore[arg-type]
        return list(rows)


def complete_event(engine: Engine, *, event_id: str, worker_id: str, outcome: str) -> bool:
    """Mark done if this worker still holds the lease. Returns False if the lease was lost."""
    with Session(engine) as session:
        result = session.execute(
            update(InboxEvent).where(InboxEvent.id == event_id, InboxEvent.locked_by == worker_id,  # type: ignore[arg-type]
                                     InboxEvent.status == PROCESSING)  # type: ignore[arg-type]
            .values(status=DONE, outcome=outcome, processed_at=utcnow(), locked_until=None, last_error=None)
        )
        session.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]


def backoff_delay(attempt: int, *, base_s: float, cap_s: float = 600.0) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(cap_s, base_s * (2 ** max(0, attempt - 1))))


def fail_event(engine: Engine, *, event_id: str, worker_id: str, error: str, attempts: int,
               max_attempts: int, backoff_base_s: float, permanent: bool = False,
               infrastructure: bool = False) -> str:
    """Record the error; requeue with backoff, or mark failed when attempts are exhausted/permanent.

    `infrastructure`: something the event does not own is down (the database connection was lost; the POS
    or messaging provider stayed unavailable through its own retries). That says nothing about the event:
    it is requeued and the claim's attempt is given back, so an outage of any length never fails events
    for good; it is retried every INFRASTRUCTURE_RETRY_S at most until the outage ends."""
    final = not infrastructure and (permanent or attempts >= max_attempts)
    delay = (random.uniform(backoff_base_s, max(backoff_base_s, INFRASTRUCTURE_RETRY_S)) if infrastructure
             else backoff_delay(attempts, base_s=backoff_base_s))
    next_at: datetime = utcnow() + timedelta(seconds=delay)
    status = FAILED if final else QUEUED
    values: dict[str, Any] = {"status": status, "last_error": error[:4000], "next_attempt_at": next_at,
                              "locked_until": None, "processed_at": utcnow() if final else None}
    if infrastructure:
        values["attempts"] = InboxEvent.attempts - 1
    with Session(engine) as session:
        session.execute(
            update(InboxEvent).where(InboxEvent.id == event_id, InboxEvent.locked_by == worker_id)  # type: ignore[arg-type]
            .values(**values)
        )
        session.commit()
    return status


def requeue_for_execution(session: Session, *, event_id: str) -> bool:
    """done|failed -> queued (outcome `execution_queued`, attempts reset): a decision was taken but its
    execution could not finish here (POS down during a review); the worker resumes the graph. The
    caller commits, together with the offer's own transition."""
    result = session.execute(
        update(InboxEvent).where(InboxEvent.id == event_id,  # type: ignore[arg-type]
                                 col(InboxEvent.status).in_((DONE, FAILED)))
        .values(status=QUEUED, outcome=OUTCOME_EXECUTION_QUEUED, attempts=0, next_attempt_at=utcnow(),
                locked_by=None, locked_until=None, processed_at=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def record_outcome(session: Session, *, event_id: str, outcome: str) -> bool:
    """The decision of a finished event moved on (reviewed, re-checked): store its new outcome.
    Only a `done` row changes; a queued or running one will record its own outcome."""
    result = session.execute(
        update(InboxEvent).where(InboxEvent.id == event_id, InboxEvent.status == DONE)  # type: ignore[arg-type]
        .values(outcome=outcome)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
