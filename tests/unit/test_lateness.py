"""agent.lateness.late_reason: late means received more than the realtime window after the sale happened,
received being the inbox row's time or, when earlier (a pinned clock), now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agent.lateness import late_reason

SALE = datetime(2026, 5, 1, 19, 0, tzinfo=UTC)
WINDOW = timedelta(hours=3)


def test_a_sale_received_within_the_window_is_timely() -> None:
    assert late_reason(SALE + WINDOW, occurred_at=SALE, window=WINDOW, now=SALE + timedelta(days=9)) is None


def test_a_sale_received_after_the_window_is_late_with_its_age_and_the_window() -> None:
    reason = late_reason(SALE + timedelta(days=10), occurred_at=SALE, window=WINDOW, now=SALE + timedelta(days=11))
    assert reason is not None
    assert reason.startswith("the sale happened 10 days before it was received")
    assert "realtime window of 3 hours" in reason


def test_the_worker_clock_does_not_make_a_timely_sale_late() -> None:
    """A backlog on our side: the row was received in time, the worker decides days later."""
    assert late_reason(SALE + timedelta(minutes=5), occurred_at=SALE, window=WINDOW,
                       now=SALE + timedelta(days=3)) is None


def test_a_pinned_clock_earlier_than_the_row_counts() -> None:
    assert late_reason(SALE + timedelta(days=5), occurred_at=SALE, window=WINDOW,
                       now=SALE + timedelta(hours=1)) is None


def test_without_an_inbox_row_the_clock_decides() -> None:
    assert late_reason(None, occurred_at=SALE, window=WINDOW, now=SALE + timedelta(hours=2)) is None
    reason = late_reason(None, occurred_at=SALE, window=WINDOW, now=SALE + timedelta(hours=5))
    assert reason is not None and reason.startswith("the sale happened 5 hours before")
