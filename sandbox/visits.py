"""When and where a persona comes in: visit rhythm, weekday and day-part in the location's local time."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta
from typing import NamedTuple

from sandbox.personas import GuestProfile

# Day-parts in minutes after local midnight (end may pass midnight: the bar closes at 00:45).
BRUNCH = (10 * 60, 13 * 60 + 45)
LUNCH = (11 * 60 + 30, 14 * 60)
_BUSINESS_LUNCH = (11 * 60 + 45, 13 * 60 + 45)
_EARLY_DINNER = (17 * 60, 18 * 60 + 45)
DINNER = (17 * 60 + 30, 21 * 60 + 30)
_LATE_DINNER = (18 * 60 + 30, 21 * 60 + 30)
BAR = (21 * 60 + 30, 24 * 60 + 45)


class Visit(NamedTuple):
    day: date  # local date at the location
    minute: int  # minutes after local midnight
    kind: str  # brunch | lunch | business_lunch | dinner | bar | family
    location_id: str


def _snap_weekday(day: date, allowed: Sequence[int], rng: random.Random) -> date:
    """Move `day` forward to the nearest allowed weekday (Mon=0), picking among ties at random."""
    weekday = day.weekday()
    offsets = sorted((d - weekday) % 7 for d in allowed)
    if offsets[0] == 0 or len(offsets) == 1 or rng.random() < 0.85:
        return day + timedelta(days=offsets[0])
    return day + timedelta(days=offsets[1])


def arrival_minute(rng: random.Random, span: tuple[int, int]) -> int:
    low, high = span
    # Triangular: most guests arrive mid-service, fewer at the edges.
    return round(rng.triangular(low, high, (low + high) / 2))


def _rhythm_days(rng: random.Random, profile: GuestProfile) -> float:
    persona = profile.persona
    if persona == "regular":
        nominal = profile.rhythm_days or 14
        return max(3.0, rng.gauss(nominal, 0.12 * nominal))
    if persona == "brunch_crowd":
        return float(rng.choice((14, 14, 21, 21, 28, 35)))
    if persona == "wine_lover":
        return max(5.0, rng.gauss(18, 5))
    if persona == "family":
        return max(7.0, rng.gauss(26, 7))
    if persona == "dessert_lover":
        return max(5.0, rng.gauss(21, 6))
    if persona == "lapsed_vip":
        return max(3.0, rng.gauss(9, 2.5))
    if persona == "business_lunch":
        return max(3.0, rng.gauss(16, 5))
    if persona == "late_night_bar":
        return max(4.0, rng.gauss(18, 6))
    return 1.0 + rng.expovariate(1.0 / rng.uniform(50, 110))  # occasional


def _visit_location(rng: random.Random, profile: GuestProfile, kind: str) -> str:
    if kind == "bar":
        return "loc_1"
    if rng.random() < 0.88:
        return profile.home_location_id
    return "loc_2" if profile.home_location_id == "loc_1" else "loc_1"


def place_visit(rng: random.Random, profile: GuestProfile, day: date) -> Visit:
    """Weekday and day-part by persona (snapping the rhythm's date to the persona's days)."""
    persona = profile.persona
    if persona == "brunch_crowd":
        if rng.random() < 0.9:
            day = _snap_weekday(day, (5, 6), rng)
            return Visit(day, arrival_minute(rng, BRUNCH), "brunch", _visit_location(rng, profile, "brunch"))
        return Visit(day, arrival_minute(rng, DINNER), "dinner", _visit_location(rng, profile, "dinner"))
    if persona == "business_lunch":
        day = _snap_weekday(day, (0, 1, 2, 3, 4), rng)
        minute = arrival_minute(rng, _BUSINESS_LUNCH)
        return Visit(day, minute, "business_lunch", _visit_location(rng, profile, "lunch"))
    if persona == "late_night_bar":
        day = _snap_weekday(day, (3, 4, 5), rng)
        return Visit(day, arrival_minute(rng, BAR), "bar", "loc_1")
    if persona == "family":
        if rng.random() < 0.65:
            day = _snap_weekday(day, (5, 6), rng)
            return Visit(day, arrival_minute(rng, LUNCH), "family", _visit_location(rng, profile, "family"))
        return Visit(day, arrival_minute(rng, _EARLY_DINNER), "family", _visit_location(rng, profile, "family"))
    if persona == "wine_lover":
        if rng.random() < 0.6:
            day = _snap_weekday(day, (3, 4, 5), rng)
        return Visit(day, arrival_minute(rng, _LATE_DINNER), "dinner", _visit_location(rng, profile, "dinner"))
    if persona == "regular" and profile.signature_sku in {"CHEESEBURGER", "SALMON-POKE-BOWL"}:
        if day.weekday() < 5 and rng.random() < 0.6:
            return Visit(day, arrival_minute(rng, LUNCH), "lunch", _visit_location(rng, profile, "lunch"))
    if persona in {"occasional", "one_timer"}:
        roll = rng.random()
        if day.weekday() >= 5 and roll < 0.2:
            return Visit(day, arrival_minute(rng, BRUNCH), "brunch", _visit_location(rng, profile, "brunch"))
        if roll < 0.4:
            return Visit(day, arrival_minute(rng, LUNCH), "lunch", _visit_location(rng, profile, "lunch"))
    return Visit(day, arrival_minute(rng, DINNER), "dinner", _visit_location(rng, profile, "dinner"))


def visit_days(rng: random.Random, profile: GuestProfile, start: date, end: date) -> list[date]:
    """Visit dates by the persona's rhythm within [max(start, joined), min(end, lapse))."""
    first = max(start, profile.joined)
    last = min(end, profile.lapse_on) if profile.lapse_on else end
    if first >= last:
        return []
    span = (last - first).days
    if profile.persona == "one_timer":
        return [first + timedelta(days=rng.randrange(span))]
    days: list[date] = []
    cursor = float(rng.uniform(0, _rhythm_days(rng, profile)))
    while cursor < span:
        days.append(first + timedelta(days=int(cursor)))
        step = _rhythm_days(rng, profile)
        if profile.persona != "regular" and rng.random() < 0.04:
            step *= 2  # a holiday away
        cursor += step
    return days
