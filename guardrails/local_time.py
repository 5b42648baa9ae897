"""Local time of a customer, as the rules need it: the zone to use and the next moment outside quiet
hours. Pure functions of their arguments, so the context (`send_at`) and the quiet-hours rule share
them without importing each other."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from guardrails.policy import QuietHoursPolicy


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo | None:
    """The IANA zone of that name, or None when it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def customer_zone(name: str | None, default: str) -> tuple[str, bool]:
    """The IANA zone to use and whether it is the customer's own (False = fell back to default)."""
    if name and zone(name) is not None:
        return name, True
    return default, False


def _in_window(local: time, start: time, end: time) -> bool:
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end  # window wraps midnight, e.g. 21:00-09:00


def next_allowed_send_time(now_utc: datetime, zone_name: str, quiet: QuietHoursPolicy) -> datetime:
    """`now_utc` if outside quiet hours in `zone_name`, else the next local `quiet.end`, in UTC."""
    local_zone = zone(zone_name) or zone(quiet.default_timezone) or ZoneInfo("UTC")
    local = now_utc.astimezone(local_zone)
    if not _in_window(local.timetz().replace(tzinfo=None), quiet.start, quiet.end):
        return now_utc
    candidate = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate = (local + timedelta(days=1)).replace(
            hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0
        )
    # Round-trip through UTC so a wall time that does not exist (DST gap) still yields a real instant.
    return candidate.astimezone(UTC)
