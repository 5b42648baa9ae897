"""Fatigue: caps on offers per customer, per channel and across channels, over rolling windows,
counting every trigger and campaign.

History entries count when their status is in `policy.fatigue.counted_statuses` (sent, scheduled
and pending review by default: a queued message will reach the guest too). A cap of N per W days
is kept when fewer than N counted entries lie within W days before or after the planned send time
(the quiet-hours-deferred time), which keeps every rolling window that contains the new message
at N or fewer. No two messages may be closer than `min_hours_between_any`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from core.schemas import GuardrailResult, OfferHistoryEntry
from guardrails.context import not_applicable, result

if TYPE_CHECKING:
    from guardrails.context import GuardrailContext
    from guardrails.policy import FatiguePolicy

RULE = "fatigue"


def _aware(at: datetime) -> datetime:
    # History comes from our own tables (always aware); a naive value is read as UTC rather than dropped.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def fatigue_violations(
    history: Sequence[OfferHistoryEntry], *, send_at: datetime, channel: str, policy: FatiguePolicy
) -> tuple[list[str], dict[str, int]]:
    """(violations, counted entries per cap) of one more message on `channel` at `send_at`. The rule
    and the drafters call this same function, so a drafter can tell which offers it would block."""
    counted = [(_aware(entry.at), entry.channel) for entry in history if entry.status in policy.counted_statuses]
    violations: list[str] = []
    if policy.min_hours_between_any > 0:
        gap = timedelta(hours=policy.min_hours_between_any)
        close = [at for at, _ in counted if abs(at - send_at) < gap]
        if close:
            nearest = min(close, key=lambda at: abs(at - send_at))
            hours = abs(nearest - send_at).total_seconds() / 3600
            violations.append(
                f"another message {hours:.1f} h from this one (minimum {policy.min_hours_between_any:g} h)"
            )
    counts: dict[str, int] = {}
    for cap in policy.caps:
        if cap.channel not in ("all", channel):
            continue
        window = timedelta(days=cap.window_days)
        in_window = sum(
            1 for at, entry_channel in counted if cap.channel in ("all", entry_channel) and abs(at - send_at) < window
        )
        counts[f"{cap.channel}/{cap.window_days}d"] = in_window
        if in_window + 1 > cap.max_messages:
            violations.append(
                f"{cap.channel} cap {cap.max_messages} per {cap.window_days} days reached ({in_window} already)"
            )
    return violations, counts


def check_fatigue(ctx: GuardrailContext) -> GuardrailResult:
    offer = ctx.offer
    if not offer.make_offer:
        return not_applicable(RULE, "no offer drafted")
    send_at = ctx.send_at
    violations, counts = fatigue_violations(
        ctx.history, send_at=send_at, channel=offer.channel, policy=ctx.policy.fatigue
    )
    evidence = {"send_at": send_at.isoformat(), "counts": counts}
    if violations:
        return result(RULE, "block", "; ".join(violations), violations=violations, **evidence)
    return result(RULE, "pass", "within every fatigue cap", **evidence)
