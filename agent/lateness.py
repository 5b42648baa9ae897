"""Is a sale too old to act on? A sale the POS delivers long after it happened (Square retries
deliveries for up to 72 h; merchants backfill history) still updates the guest's profile, but an offer
"for your visit" days later would be wrong: the decision ends `late`, with no draft and no message.

Late means received more than the policy's `realtime_window` after the sale happened. The time it was
received is the inbox row's, not the worker's clock, so a backlog on our side (a worker restarting,
a burst at dinner rush) never turns a timely sale into a late one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from db.tables import InboxEvent


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 2 * 3600:
        return f"{seconds // 3600} hours"
    return f"{max(seconds // 60, 0)} minutes"


def late_reason(session: Session, *, event_id: str, occurred_at: datetime, window: timedelta,
                now: datetime) -> str | None:
    """Why the sale of `event_id` is too old for an offer, or None when it is timely."""
    event = session.get(InboxEvent, event_id)
    # The earlier of the two: in production the row's receipt time; under a pinned clock (tests,
    # simulations) that clock, which the row's wall-clock timestamp would otherwise contradict.
    received = min(event.received_at, now) if event is not None else now
    age = received - occurred_at
    if age <= window:
        return None
    return (f"the sale happened {_span(age)} before it was received, beyond the policy's realtime window of "
            f"{_span(window)}: the profile was updated, no offer is made for a late sale")
