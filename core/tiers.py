"""The loyalty program's tiers: thresholds, the tier a number of points earns, and the points to the next.

A tier is earned by lifetime points earned (the ledger's credits: one point per dollar spent, plus
bonus points), never by the balance: redeeming points spends the balance, not the tier. The sandbox
POS tiers its guests this way (sandbox/history.py: tier from all spend, balance = earned - redeemed),
the associate's "points to Gold" facts count points earned, and the drafter and the tier campaigns
measure the gap the same way through `points_to_next_tier`.

Callers without a ledger for a guest pass the balance instead: it never exceeds the points earned,
so the gap is then overstated, never understated.
"""

from __future__ import annotations

from dataclasses import dataclass

# Lifetime points a tier needs, lowest first (one point per dollar).
TIER_THRESHOLDS: tuple[tuple[str, int], ...] = (("silver", 500), ("gold", 1200), ("vip", 3000))
TIERS: tuple[str, ...] = ("member", *(name for name, _ in TIER_THRESHOLDS))


@dataclass(frozen=True, slots=True)
class TierGap:
    """A tier above the one held: its threshold and the lifetime points still needed (0: earned already)."""

    tier: str
    threshold: int
    to_go: int


def tier_points(lifetime_points: int | None, balance: int) -> int:
    """The points a tier is measured by: lifetime points earned, or the balance when there is no ledger."""
    return lifetime_points if lifetime_points is not None else balance


def tier_for_points(points: int) -> str:
    """The highest tier `points` earns."""
    earned = TIERS[0]
    for name, threshold in TIER_THRESHOLDS:
        if points >= threshold:
            earned = name
    return earned


def tiers_above(held: str, lifetime_points: int) -> list[TierGap]:
    """Every tier above `held` (an unknown tier counts as the lowest), nearest first."""
    rank = TIERS.index(held) if held in TIERS else 0
    return [
        TierGap(name, threshold, max(0, threshold - lifetime_points))
        for name, threshold in TIER_THRESHOLDS
        if TIERS.index(name) > rank
    ]


def points_to_next_tier(held: str, lifetime_points: int) -> TierGap | None:
    """The next tier above `held` and the lifetime points it still needs; None at the top tier."""
    above = tiers_above(held, lifetime_points)
    return above[0] if above else None
