"""Is a sale too old to act on? A sale the POS delivers long after it happened (Square retries
deliveries for up to 72 h; merchants backfill history) still updates the guest's profile, but an offer
"for your visit" days later would be wrong: the decision ends `late`, with no draft and no message.

Late means received more than the policy's `realtime_window` after the sale happened. The time it was
received is the inbox row's, not the worker's clock, so a backlog on our side (a worker restarting,
a burst at dinner rush) never turns a timely sale into a late one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from db.engine import core_connection
from db.tables import InboxEvent, PosTransaction, TransactionLine

# Core statements built once, of the columns used only: the inbox row's JSON payload is never loaded.
_RECEIVED_AT = sa_select(col(InboxEvent.received_at)).where(col(InboxEvent.id) == bindparam("event_id"))
_RECEIVED_SALE = (
    sa_select(
        col(PosTransaction.pos_transaction_id),
        col(PosTransaction.merchant_id),
        col(PosTransaction.customer_id),
        col(PosTransaction.location_id),
        col(PosTransaction.occurred_at),
        col(PosTransaction.total_cents),
        _RECEIVED_AT.scalar_subquery(),
        col(TransactionLine.sku),
    )
    .select_from(PosTransaction)
    .outerjoin(TransactionLine, col(TransactionLine.transaction_id) == col(PosTransaction.id))
    .where(col(PosTransaction.id) == bindparam("transaction_id"))
    # No ORDER BY, as the lines were always read: the database's order (SQLite: line order; PostgreSQL:
    # heap order, which can differ from the sale's line order).
)


@dataclass(frozen=True, slots=True)
class ReceivedSale:
    """A recorded sale as the decision starts from it, and when its inbox row was received (None: no row)."""

    pos_transaction_id: str
    merchant_id: str
    customer_id: int | None
    location_id: str
    occurred_at: datetime
    total_cents: int
    skus: list[str]  # its lines' skus, in the database's order (see _RECEIVED_SALE)
    received_at: datetime | None


def read_received_sale(session: Session, *, transaction_id: int, event_id: str) -> ReceivedSale | None:
    """The sale `transaction_id` with its lines and its event's receipt time, in one statement; None when
    there is no such sale."""
    params = {"transaction_id": transaction_id, "event_id": event_id}
    rows = core_connection(session).execute(_RECEIVED_SALE, params).all()
    if not rows:
        return None
    pos_transaction_id, merchant_id, customer_id, location_id, occurred_at, total_cents, received_at, _ = rows[0]
    return ReceivedSale(pos_transaction_id=pos_transaction_id, merchant_id=merchant_id, customer_id=customer_id,
                        location_id=location_id, occurred_at=occurred_at, total_cents=total_cents,
                        skus=[row[-1] for row in rows if row[-1] is not None], received_at=received_at)


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 2 * 3600:
        return f"{seconds // 3600} hours"
    return f"{max(seconds // 60, 0)} minutes"


def late_reason(received_at: datetime | None, *, occurred_at: datetime, window: timedelta,
                now: datetime) -> str | None:
    """Why a sale that happened at `occurred_at` is too old for an offer, or None when it is timely;
    `received_at` is its inbox row's (None: no row), as `read_received_sale` reads it."""
    # The earlier of the two: in production the row's receipt time; under a pinned clock (tests,
    # simulations) that clock, which the row's wall-clock timestamp would otherwise contradict.
    received = min(received_at, now) if received_at is not None else now
    age = received - occurred_at
    if age <= window:
        return None
    return (f"the sale happened {_span(age)} before it was received, beyond the policy's realtime window of "
            f"{_span(window)}: the profile was updated, no offer is made for a late sale")
