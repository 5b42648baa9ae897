"""Quiet hours in the customer's local time: the offer is deferred to the end of the window, never
dropped. The verdict is always pass; the deferred time travels in the evidence and in the
report's `send_at` so the sending tool schedules it (the arithmetic lives in guardrails.local_time)."""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING

from core.schemas import GuardrailResult
from guardrails.local_time import zone

if TYPE_CHECKING:
    from guardrails.context import GuardrailContext

RULE = "quiet_hours"


def check_quiet_hours(ctx: GuardrailContext) -> GuardrailResult:
    zone_name, own_zone = ctx.customer_timezone
    send_at = ctx.send_at
    evidence: dict[str, object] = {"timezone": zone_name, "customer_timezone_known": own_zone}
    if send_at > ctx.now_utc:
        evidence["deferred_until"] = send_at.isoformat()
        local = send_at.astimezone(zone(zone_name) or UTC)
        return GuardrailResult(
            rule=RULE,
            verdict="pass",
            reason=f"inside quiet hours; deferred to {local.strftime('%Y-%m-%d %H:%M')} {zone_name}",
            evidence=evidence,
        )
    return GuardrailResult(rule=RULE, verdict="pass", reason="outside quiet hours", evidence=evidence)
