"""Quiet hours in the customer's local time: the offer is deferred to the end of the window, never
dropped. The verdict is always pass; the deferred time travels in the evidence and in the
report's `send_at` so the sending tool schedules it."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.schemas import GuardrailResult

if TYPE_CHECKING:
    from guardrails.context import GuardrailContext
    from guardrails.policy import QuietHoursPolicy

RULE = "quiet_hours"


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def customer_zone(name: str | None, default: str) -> tuple[str, bool]:
    """The IANA zone to use and whether it is the customer's own (False = fell back to default)."""
    if name and _zone(name) is not None:
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
    zone = _zone(zone_name) or _zone(quiet.default_timezone) or ZoneInfo("UTC")
    local = now_utc.astimezone(zone)
    if not _in_window(local.timetz().replace(tzinfo=None), quiet.start, quiet.end):
        return now_utc
    candidate = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate = (local + timedelta(days=1)).replace(
            hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0
        )
    # Round-trip through UTC so a wall time that does not exist (DST gap) still yields a real instant.
    return candidate.astimezone(UTC)


def check_quiet_hours(ctx: GuardrailContext) -> GuardrailResult:
    zone_name, own_zone = ctx.customer_timezone
    send_at = ctx.send_at
    evidence: dict[str, object] = {"timezone": zone_name, "customer_timezone_known": own_zone}
    if send_at > ctx.now_utc:
        evidence["deferred_until"] = send_at.isoformat()
        local = send_at.astimezone(_zone(zone_name) or UTC)
        return GuardrailResult(
            rule=RULE,
            verdict="pass",
            reason=f"inside quiet hours; deferred to {local.strftime('%Y-%m-%d %H:%M')} {zone_name}",
            evidence=evidence,
        )
    return GuardrailResult(rule=RULE, verdict="pass", reason="outside quiet hours", evidence=evidence)
