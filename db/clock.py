"""Merchant clocks: real time, or a test clock that only moves when told to (the sandbox's).

Like a payment provider's test clock: a merchant with a `merchant_clock` row lives at that row's `now` for
what runs on its own schedule (campaigns start, the report window, the simulated guests' sales), so a
sandbox can live through weeks of outreach and responses in minutes. A test clock may never pass real
time: sales dated in the future are refused at the webhook, and the simulated ones must get through.
Without a row the merchant is on real time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col

from db.tables import MerchantClock
from db.types import utcnow


class ClockError(ValueError):
    """The clock cannot move there (backwards, or past real time)."""


def merchant_now(session: Session, merchant_id: str, *, real_now: datetime | None = None) -> datetime:
    """The merchant's current time: its test clock if it has one, else real time."""
    clock = session.get(MerchantClock, merchant_id)
    return clock.now if clock is not None else (real_now or utcnow())


def has_test_clock(session: Session, merchant_id: str) -> bool:
    return session.get(MerchantClock, merchant_id) is not None


def start_test_clock(session: Session, merchant_id: str, *, at: datetime) -> datetime:
    """Put the merchant on a test clock at `at` (no-op if it has one: returns its time)."""
    clock = session.get(MerchantClock, merchant_id)
    if clock is not None:
        return clock.now
    if at > utcnow():
        raise ClockError(f"a test clock cannot start in the future ({at.isoformat()})")
    session.add(MerchantClock(merchant_id=merchant_id, now=at))
    session.flush()
    return at


def advance_test_clock(session: Session, merchant_id: str, *, was: datetime, to: datetime) -> bool:
    """Move the test clock from `was` to `to` (compare-and-set: False when another process moved it)."""
    if to < was:
        raise ClockError("a test clock only moves forward")
    if to > utcnow():
        raise ClockError(f"a test clock cannot pass real time ({to.isoformat()} is in the future)")
    result = session.execute(
        update(MerchantClock)
        .where(col(MerchantClock.merchant_id) == merchant_id, col(MerchantClock.now) == was)
        .values(now=to, updated_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
