"""The model-free profile features, one family per function, each from a customer's merged visits.

- `value_fields`: counts, spend, recency and RFM scores (fixed thresholds, `RfmThresholds`).
- `rhythm_fields`: intervals between visits, how regular they are and the rhythm-based next-visit date.
- `timing_fields`: day parts, weekdays and the habitual occasion (e.g. Sunday brunch).
- `taste_fields`: favourite items (and the favourite's own rhythm), categories, drinks, shares.
- `is_lapsed` and `lifecycle`: where the guest stands (the latter needs the model's p_alive).

Each returns the `ProfileFeatures` fields it owns as plain values and dicts: `profiles.features` merges
them and validates once (pydantic-core builds the nested models in Rust, much faster than in Python).
Shares (dessert, alcohol, brunch items, kids items, categories) are fractions of visits with at least
one such line.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Any, Literal

from profiles.visits import (
    ALCOHOL,
    BRUNCH,
    DAY_PARTS,
    DESSERT,
    KIDS,
    WEEKDAYS,
    CustomerDays,
    DayPart,
    day_part,
    days_between,
)

Lifecycle = Literal["new", "regular", "occasional", "at_risk", "lapsed"]
SpendTier = Literal["high", "mid", "low"]

LAPSE_INTERVAL_MULTIPLE = 2.5
LAPSE_MIN_DAYS = 45.0
MIN_RHYTHM_VISITS = 3  # visits (or orders of an item) needed before we claim a rhythm (>= 2 intervals)
FAVOURITE_ITEMS = 5
FAVOURITE_CATEGORIES = 3
AT_RISK_P_ALIVE = 0.5
REGULAR_MIN_VISITS_12M = 6
REGULAR_MAX_INTERVAL_DAYS = 45.0


@dataclass(frozen=True, slots=True)
class RfmThresholds:
    """Fixed RFM score cut-offs (score 5 = best), tuned for a casual full-service restaurant.

    Fixed thresholds instead of quintiles so a score means the same thing across merchants and over
    time, and a single customer can be scored without the rest of the base. Each tuple lists the
    lower bounds for scores 5, 4, 3, 2 (recency: upper bounds in days since the last visit).
    """

    recency_days: tuple[float, float, float, float] = (14.0, 30.0, 60.0, 120.0)
    visits_12m: tuple[int, int, int, int] = (24, 12, 6, 3)
    spend_12m_cents: tuple[int, int, int, int] = (150_000, 60_000, 25_000, 10_000)


DEFAULT_RFM = RfmThresholds()


def _score_upper(value: float, bounds: tuple[float, float, float, float]) -> int:
    for score, bound in zip((5, 4, 3, 2), bounds, strict=True):
        if value <= bound:
            return score
    return 1


def _score_lower(value: float, bounds: tuple[float, float, float, float] | tuple[int, int, int, int]) -> int:
    for score, bound in zip((5, 4, 3, 2), bounds, strict=True):
        if value >= bound:
            return score
    return 1


def _share(count: int, visits: int) -> float:
    return round(count / visits, 4)


def value_fields(history: CustomerDays, now: datetime, thresholds: RfmThresholds) -> dict[str, Any]:
    """How much and how recently: visit and spend totals, 12-month figures, RFM and spend tier."""
    days = history.days
    n_visits = len(days)
    year_ago = now - timedelta(days=365)
    recent = [day for day in days if day.started_at > year_ago]
    visits_12m = len(recent)
    spend_12m = sum(day.total_cents for day in recent)
    spend_total = sum(day.total_cents for day in days)
    days_since = days_between(now, days[-1].started_at)
    monetary = _score_lower(spend_12m, thresholds.spend_12m_cents)
    return {
        "visits_total": n_visits,
        "transactions_total": history.transactions,
        "first_visit_at": days[0].started_at,
        "last_visit_at": days[-1].started_at,
        "days_since_last_visit": round(days_since, 2),
        "visits_12m": visits_12m,
        "spend_12m_cents": spend_12m,
        "spend_total_cents": spend_total,
        "avg_spend_cents": round(spend_total / n_visits),
        "rfm": {
            "recency": _score_upper(days_since, thresholds.recency_days),
            "frequency": _score_lower(visits_12m, thresholds.visits_12m),
            "monetary": monetary,
        },
        "spend_tier": "high" if monetary >= 4 else "mid" if monetary >= 2 else "low",
    }


def interval_cv(intervals: list[float]) -> float | None:
    """How regular a rhythm is: the coefficient of variation (population standard deviation / mean) of the
    intervals; None without an interval or with a zero mean. 0 = clockwork; a rhythm with CV above ~0.5 is
    not one to time a message by."""
    if not intervals:
        return None
    mean = sum(intervals) / len(intervals)
    if mean <= 0:
        return None
    variance = sum((x - mean) ** 2 for x in intervals) / len(intervals)
    return round(variance**0.5 / mean, 4)


def rhythm_fields(history: CustomerDays, now: datetime) -> dict[str, Any]:
    """Intervals between visits (local dates) and when the next visit is due by that rhythm (may be
    in the past). The median counts as a rhythm only from `MIN_RHYTHM_VISITS` visits on."""
    days = history.days
    intervals = [float((days[i].date - days[i - 1].date).days) for i in range(1, len(days))]
    median_interval = float(median(intervals)) if len(days) >= MIN_RHYTHM_VISITS else None
    due_at = days[-1].started_at + timedelta(days=median_interval) if median_interval is not None else None
    return {
        "avg_interval_days": round(sum(intervals) / len(intervals), 2) if intervals else None,
        "median_interval_days": median_interval,
        "interval_cv": interval_cv(intervals) if len(days) >= MIN_RHYTHM_VISITS else None,
        "next_visit_due_at": due_at,
        "next_visit_overdue": due_at is not None and due_at < now,
    }


def timing_fields(history: CustomerDays) -> dict[str, Any]:
    """When the guest comes: day-part and weekday shares, top ones, and the habitual occasion."""
    n_visits = len(history.days)
    part_counts: Counter[DayPart] = Counter()
    weekday_counts: Counter[str] = Counter()
    occasion_counts: Counter[tuple[str, DayPart]] = Counter()
    occasion_kids: Counter[tuple[str, DayPart]] = Counter()
    for day in history.days:
        part = day_part(day.local_start)
        weekday = WEEKDAYS[day.local_start.weekday()]
        part_counts[part] += 1
        weekday_counts[weekday] += 1
        occasion_counts[(weekday, part)] += 1
        if day.flags & KIDS:
            occasion_kids[(weekday, part)] += 1
    ranked_weekdays = sorted(weekday_counts.items(), key=lambda kv: (-kv[1], WEEKDAYS.index(kv[0])))
    (occ_day, occ_part), occ_visits = min(
        occasion_counts.items(), key=lambda kv: (-kv[1], WEEKDAYS.index(kv[0][0]), DAY_PARTS.index(kv[0][1]))
    )
    top_occasion = (
        {
            "weekday": occ_day,
            "day_part": occ_part,
            "visits": occ_visits,
            "share": _share(occ_visits, n_visits),
            "kids_share": _share(occasion_kids[(occ_day, occ_part)], occ_visits),
        }
        if n_visits >= MIN_RHYTHM_VISITS
        else None
    )
    return {
        "day_part_shares": {p: round(part_counts[p] / n_visits, 4) for p in DAY_PARTS},
        "top_day_part": max(DAY_PARTS, key=lambda p: (part_counts[p], -DAY_PARTS.index(p))),
        "weekday_shares": {d: round(weekday_counts[d] / n_visits, 4) for d in WEEKDAYS},
        "weekend_share": _share(weekday_counts["Saturday"] + weekday_counts["Sunday"], n_visits),
        "top_weekdays": [d for d, c in ranked_weekdays if c / n_visits >= 0.2][:2],
        "top_occasion": top_occasion,
    }


def _top_shares(counter: Counter[str], visits: int, limit: int) -> list[dict[str, Any]]:
    """CategoryShare dicts, most visits first."""
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [{"name": name, "visits": count, "share": round(count / visits, 4)} for name, count in ranked]


def _favourite_rhythm(history: CustomerDays, sku: str) -> dict[str, Any] | None:
    """How often the favourite item is ordered, once it has been ordered on enough visits."""
    fav = history.items[sku]
    times = fav.visit_times
    if len(times) < MIN_RHYTHM_VISITS:
        return None
    gaps = [days_between(times[i], times[i - 1]) for i in range(1, len(times))]
    fav_median = round(float(median(gaps)), 1)
    return {
        "sku": sku,
        "name": fav.name,
        "orders": len(times),
        "median_interval_days": fav_median,
        "interval_cv": interval_cv(gaps),
        "last_ordered_at": fav.last_ordered_at,
        "next_expected_at": fav.last_ordered_at + timedelta(days=fav_median),
    }


def taste_fields(history: CustomerDays) -> dict[str, Any]:
    """What the guest orders: favourite items, categories and drinks, and dessert/alcohol/brunch/kids shares."""
    items, n_visits = history.items, len(history.days)
    ranked_skus = sorted(
        items, key=lambda s: (-len(items[s].visit_times), -items[s].last_ordered_at.timestamp(), s)
    )[:FAVOURITE_ITEMS]
    category_counts: Counter[str] = Counter()
    drink_counts: Counter[str] = Counter()
    for day in history.days:
        category_counts.update(day.categories)
        drink_counts.update(day.drinks)

    def flag_share(bit: int) -> float:
        return _share(sum(1 for day in history.days if day.flags & bit), n_visits)

    return {
        "favourite_items": [
            {
                "sku": sku,
                "name": items[sku].name,
                "category": items[sku].category,
                "visits": len(items[sku].visit_times),
                "quantity": items[sku].quantity,
                "last_ordered_at": items[sku].last_ordered_at,
            }
            for sku in ranked_skus
        ],
        "favourite_item_rhythm": _favourite_rhythm(history, ranked_skus[0]) if ranked_skus else None,
        "favourite_categories": _top_shares(category_counts, n_visits, FAVOURITE_CATEGORIES),
        "drink_preferences": _top_shares(drink_counts, n_visits, FAVOURITE_CATEGORIES),
        "dessert_share": flag_share(DESSERT),
        "alcohol_share": flag_share(ALCOHOL),
        "brunch_share": flag_share(BRUNCH),
        "kids_share": flag_share(KIDS),
    }


def is_lapsed(days_since_last_visit: float, median_interval: float | None) -> bool:
    """Away for 2.5 of their usual intervals, and at least 45 days."""
    lapse_after = (
        max(LAPSE_INTERVAL_MULTIPLE * median_interval, LAPSE_MIN_DAYS) if median_interval else LAPSE_MIN_DAYS
    )
    return days_since_last_visit > lapse_after


def lifecycle(
    *, lapsed: bool, visits: int, p_alive: float, visits_12m: int, median_interval: float | None
) -> Lifecycle:
    """Lapsed, new (one visit), at risk (model says probably gone), regular (steady and frequent) or occasional."""
    if lapsed:
        return "lapsed"
    if visits <= 1:
        return "new"
    if p_alive < AT_RISK_P_ALIVE:
        return "at_risk"
    steady = median_interval is not None and median_interval <= REGULAR_MAX_INTERVAL_DAYS
    if visits_12m >= REGULAR_MIN_VISITS_12M and steady:
        return "regular"
    return "occasional"
