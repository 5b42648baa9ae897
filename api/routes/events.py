"""Processing status and outcome of one inbound event."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import col

from api.deps import Manager, SessionDep
from db.inbox import get_event
from db.tables import AuditEvent, Offer

router = APIRouter(prefix="/events", tags=["events"])


class EventOut(BaseModel):
    event_id: str
    provider: str
    provider_event_id: str
    type: str
    status: str
    outcome: str | None
    offer_ids: list[str]
    reason: str | None = None  # why the decision ended as it did, when the outcome needs it (e.g. `late`)
    attempts: int
    last_error: str | None
    received_at: datetime
    processed_at: datetime | None


@router.get("/{event_id}", response_model=EventOut)
def read_event(event_id: str, session: SessionDep, _key: Manager) -> EventOut:
    row = get_event(session, event_id=event_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no event {event_id!r}")
    offer_ids = list(session.execute(
        select(col(Offer.id)).where(Offer.event_id == row.id).order_by(Offer.created_at)  # type: ignore[arg-type]
    ).scalars())
    decided = session.execute(
        select(col(AuditEvent.outputs))
        .where(col(AuditEvent.correlation_id) == row.id, col(AuditEvent.node) == "record")
        .order_by(col(AuditEvent.id).desc()).limit(1)
    ).scalar_one_or_none()
    return EventOut(
        reason=(decided or {}).get("reason"),
        event_id=row.id, provider=row.provider, provider_event_id=row.provider_event_id, type=row.event_type,
        status=row.status, outcome=row.outcome, offer_ids=offer_ids, attempts=row.attempts,
        last_error=row.last_error, received_at=row.received_at, processed_at=row.processed_at,
    )
