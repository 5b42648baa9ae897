"""Customer features from visit history: favourites, occasions, RFM, rhythm, churn risk and value.

Two entry points, same numbers:
- `compute_features_batch`: a merchant's whole base. Per-customer aggregation is plain Python over
  that customer's visits (counters, medians); the model parts (BG/NBD, Gamma-Gamma) run once as
  numpy arrays over all customers.
- `compute_features`: one customer, called on every transaction. It recomputes from the customer's
  history rather than patching stored aggregates: medians, rhythms and "top" lists are not
  mergeable, a guest's history is small (tens of visits, well under a millisecond), and recomputing
  can never drift from the batch result.

Definitions (all in the visit location's local time):
- A *visit* is a customer-day: transactions of one customer on the same local date are merged (a bar
  tab and a dinner bill are one outing). This is also the transaction unit BG/NBD counts.
- Day parts: late 22:00-04:59; breakfast 05:00-10:59 on weekdays, 05:00-09:59 on weekends;
  brunch 10:00-15:59 on Saturday/Sunday; lunch 11:00-15:59 on weekdays; dinner 16:00-21:59.
  A merged visit takes the day part of its first transaction.
- Weekend = Saturday and Sunday.
- Shares (dessert, alcohol, brunch items, kids items, categories) are fractions of visits with at
  least one such line.
- Times for the model are in days; BG/NBD frequency = visits - 1, recency = days from the first to
  the last visit, T = days from the first visit to `now`. Visits after `now` are ignored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from statistics import median
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import BaseModel, Field

from profiles.bgnbd import expected_interval_if_alive, expected_transactions, probability_alive
from profiles.merchant_model import DEFAULT_MODEL, MerchantModel, ParamSource
from profiles.spend import clv_cents, expected_spend_per_visit

DayPart = Literal["breakfast", "brunch", "lunch", "dinner", "late"]
Lifecycle = Literal["new", "regular", "occasional", "at_risk", "lapsed"]
SpendTier = Literal["high", "mid", "low"]

DAY_PARTS: tuple[DayPart, ...] = ("breakfast", "brunch", "lunch", "dinner", "late")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DESSERT_CATEGORIES = frozenset({"desserts", "dessert"})
BRUNCH_CATEGORIES = frozenset({"brunch"})
KIDS_CATEGORIES = frozenset({"kids"})
DRINK_CATEGORIES = frozenset({"drinks", "drink", "beverages"})
# Used only when a line does not say whether it contains alcohol (catalog flag unknown).
ALCOHOL_SUBCATEGORIES = frozenset(
    {"wine", "red wine", "white wine", "beer", "cocktail", "cocktails", "spirits", "cider"}
)

LAPSE_INTERVAL_MULTIPLE = 2.5
LAPSE_MIN_DAYS = 45.0
MIN_RHYTHM_VISITS = 3  # visits (or orders of an item) needed before we claim a rhythm (>= 2 intervals)
FAVOURITE_ITEMS = 5
FAVOURITE_CATEGORIES = 3
EXPECTED_VISITS_HORIZON_DAYS = 90.0
CLV_HORIZON_DAYS = 365.0
AT_RISK_P_ALIVE = 0.5
REGULAR_MIN_VISITS_12M = 6
REGULAR_MAX_INTERVAL_DAYS = 45.0


class VisitLine(NamedTuple):
    """One line of a visit; a plain tuple (sku, name, category, subcategory, quantity, unit_price_cents)
    works too. `contains_alcohol` is the catalog flag when known."""

    sku: str
    name: str
    category: str | None
    subcategory: str | None
    quantity: int
    unit_price_cents: int
    contains_alcohol: bool | None = None


@dataclass(frozen=True, slots=True)
class Visit:
    """One POS transaction of a customer. `timezone` is the IANA zone of the location."""

    occurred_at: datetime
    total_cents: int
    lines: Sequence[VisitLine]  # bare (sku, name, category, subcategory, quantity, price) tuples are converted
    timezone: str = "America/New_York"
    transaction_id: int | None = None
    location_id: str | None = None

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            raise ValueError("Visit.occurred_at must be timezone-aware")
        if not all(type(line) is VisitLine for line in self.lines):
            object.__setattr__(self, "lines", tuple(VisitLine(*line) for line in self.lines))

    def local_time(self) -> datetime:
        return self.occurred_at.astimezone(zone(self.timezone))


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def day_part(local: datetime) -> DayPart:
    """Day part of a local wall-clock time (boundaries in the module docstring)."""
    hour = local.hour
    weekend = local.weekday() >= 5
    if hour >= 22 or hour < 5:
        return "late"
    if hour >= 16:
        return "dinner"
    if weekend:
        return "breakfast" if hour < 10 else "brunch"
    return "breakfast" if hour < 11 else "lunch"


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


class RfmScores(BaseModel):
    recency: int = Field(ge=1, le=5)
    frequency: int = Field(ge=1, le=5)
    monetary: int = Field(ge=1, le=5)

    @property
    def code(self) -> str:
        return f"{self.recency}{self.frequency}{self.monetary}"


class FavouriteItem(BaseModel):
    sku: str
    name: str
    category: str | None = None
    visits: int  # visits on which it was ordered
    quantity: int
    last_ordered_at: datetime


class CategoryShare(BaseModel):
    name: str
    visits: int
    share: float


class Occasion(BaseModel):
    """The most common (weekday, day part) combination, e.g. Sunday brunch (needs >= 3 visits)."""

    weekday: str
    day_part: DayPart
    visits: int
    share: float
    kids_share: float  # share of these visits with kids items


class ItemRhythm(BaseModel):
    sku: str
    name: str
    orders: int  # visits with the item
    median_interval_days: float
    last_ordered_at: datetime
    next_expected_at: datetime


class ProfileFeatures(BaseModel):
    """Everything the agent, the profile document and the segment search know about a customer's
    behaviour. Contains no contact PII.

    Built by validating one plain dict per customer (nested parts as dicts): pydantic-core then
    creates the nested models in Rust, several times faster than constructing each nested model in
    Python, which matters when the batch path builds 100k of these.
    """

    customer_id: int | None = None
    computed_at: datetime
    model_source: ParamSource

    visits_total: int
    transactions_total: int
    first_visit_at: datetime
    last_visit_at: datetime
    days_since_last_visit: float
    visits_12m: int
    spend_12m_cents: int
    spend_total_cents: int
    avg_spend_cents: int
    expected_spend_per_visit_cents: int
    rfm: RfmScores
    spend_tier: SpendTier

    avg_interval_days: float | None
    median_interval_days: float | None
    next_visit_due_at: datetime | None  # last visit + median interval (may be in the past)
    next_visit_overdue: bool
    expected_next_visit_at: datetime  # never before computed_at
    next_visit_basis: Literal["rhythm", "model"]

    p_alive: float
    churn_risk: float
    expected_visits_90d: float
    clv_12m_cents: int
    lapsed: bool
    lifecycle: Lifecycle

    favourite_items: list[FavouriteItem]
    favourite_categories: list[CategoryShare]
    drink_preferences: list[CategoryShare]
    favourite_item_rhythm: ItemRhythm | None
    dessert_share: float
    alcohol_share: float
    brunch_share: float
    kids_share: float

    day_part_shares: dict[str, float]
    top_day_part: DayPart
    weekday_shares: dict[str, float]
    weekend_share: float
    top_weekdays: list[str]
    top_occasion: Occasion | None


@dataclass(slots=True)
class _Aggregate:
    """Model-free part of a customer's features, before the vectorised model step."""

    customer_id: int | None
    fields: dict[str, Any]  # ProfileFeatures fields that need no model
    frequency: float  # BG/NBD x
    recency_days: float  # BG/NBD t_x
    age_days: float  # BG/NBD T
    visits: int
    mean_ticket_cents: float
    last_visit_at: datetime
    median_interval: float | None


@dataclass(slots=True)
class _ItemStats:
    name: str
    category: str | None
    quantity: int
    last_ordered_at: datetime
    visit_times: list[datetime]  # first order time on each visit with the item


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


_DESSERT, _ALCOHOL, _BRUNCH, _KIDS = 1, 2, 4, 8


@lru_cache(maxsize=4096)
def _classify(category: str | None, subcategory: str | None, contains_alcohol: bool | None) -> tuple[str, int, str]:
    """(normalised category, flag bits, drink subcategory or "") of a line; cached because a menu
    has few distinct (category, subcategory) pairs and this runs once per line in the batch."""
    cat = (category or "").lower()
    sub = (subcategory or "").lower()
    alcohol = contains_alcohol if contains_alcohol is not None else sub in ALCOHOL_SUBCATEGORIES
    bits = (
        (_DESSERT if cat in DESSERT_CATEGORIES else 0)
        | (_ALCOHOL if alcohol else 0)
        | (_BRUNCH if cat in BRUNCH_CATEGORIES else 0)
        | (_KIDS if cat in KIDS_CATEGORIES else 0)
    )
    return cat, bits, sub if cat in DRINK_CATEGORIES else ""


def _top_shares(counter: Counter[str], visits: int, limit: int) -> list[dict[str, Any]]:
    """CategoryShare dicts, most visits first."""
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [{"name": name, "visits": count, "share": round(count / visits, 4)} for name, count in ranked]


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / 86400.0


def _aggregate(
    customer_id: int | None, visits: Sequence[Visit], now: datetime, rfm_thresholds: RfmThresholds
) -> _Aggregate | None:
    ordered = sorted((v for v in visits if v.occurred_at <= now), key=lambda v: v.occurred_at)
    if not ordered:
        return None
    year_ago = now - timedelta(days=365)

    # Merge transactions into customer-days (local date of the location).
    day_keys: list[date] = []
    day_starts: list[datetime] = []
    day_totals: list[int] = []
    day_local: list[datetime] = []
    day_skus: list[set[str]] = []
    day_flags: list[int] = []  # bit set of _DESSERT, _ALCOHOL, _BRUNCH, _KIDS
    day_categories: list[set[str]] = []
    day_drinks: list[set[str]] = []
    items: dict[str, _ItemStats] = {}
    for visit in ordered:
        local = visit.occurred_at.astimezone(zone(visit.timezone))
        key = local.date()
        if not day_keys or day_keys[-1] != key:
            day_keys.append(key)
            day_starts.append(visit.occurred_at)
            day_totals.append(0)
            day_local.append(local)
            day_skus.append(set())
            day_flags.append(0)
            day_categories.append(set())
            day_drinks.append(set())
        day_totals[-1] += visit.total_cents
        flags, skus, cats, drinks = 0, day_skus[-1], day_categories[-1], day_drinks[-1]
        at = visit.occurred_at
        for line in visit.lines:
            sku, name, raw_category, quantity = line.sku, line.name, line.category, line.quantity
            category, bits, drink = _classify(raw_category, line.subcategory, line.contains_alcohol)
            flags |= bits
            if category:
                cats.add(category)
            if drink:
                drinks.add(drink)
            stats = items.get(sku)
            if stats is None:
                items[sku] = _ItemStats(name, raw_category, quantity, at, [at])
            else:
                stats.name, stats.category = name, raw_category or stats.category
                stats.quantity += quantity
                stats.last_ordered_at = at
                if sku not in skus:
                    stats.visit_times.append(at)
            skus.add(sku)
        day_flags[-1] |= flags

    n_visits = len(day_keys)
    first_at, last_at = day_starts[0], day_starts[-1]
    intervals = [float((day_keys[i] - day_keys[i - 1]).days) for i in range(1, n_visits)]
    median_interval = float(median(intervals)) if n_visits >= MIN_RHYTHM_VISITS else None
    avg_interval = round(sum(intervals) / len(intervals), 2) if intervals else None

    visits_12m = sum(1 for s in day_starts if s > year_ago)
    spend_12m = sum(t for s, t in zip(day_starts, day_totals, strict=True) if s > year_ago)
    spend_total = sum(day_totals)
    days_since = _days(now - last_at)

    part_counts: Counter[DayPart] = Counter()
    weekday_counts: Counter[str] = Counter()
    occasion_counts: Counter[tuple[str, DayPart]] = Counter()
    occasion_kids: Counter[tuple[str, DayPart]] = Counter()
    for local, flags in zip(day_local, day_flags, strict=True):
        part = day_part(local)
        weekday = WEEKDAYS[local.weekday()]
        part_counts[part] += 1
        weekday_counts[weekday] += 1
        occasion_counts[(weekday, part)] += 1
        if flags & _KIDS:
            occasion_kids[(weekday, part)] += 1
    day_part_shares = {p: round(part_counts[p] / n_visits, 4) for p in DAY_PARTS}
    weekday_shares = {d: round(weekday_counts[d] / n_visits, 4) for d in WEEKDAYS}
    top_day_part = max(DAY_PARTS, key=lambda p: (part_counts[p], -DAY_PARTS.index(p)))
    ranked_weekdays = sorted(weekday_counts.items(), key=lambda kv: (-kv[1], WEEKDAYS.index(kv[0])))
    top_weekdays = [d for d, c in ranked_weekdays if c / n_visits >= 0.2][:2]
    (occ_day, occ_part), occ_visits = min(
        occasion_counts.items(), key=lambda kv: (-kv[1], WEEKDAYS.index(kv[0][0]), DAY_PARTS.index(kv[0][1]))
    )
    top_occasion = (
        {
            "weekday": occ_day,
            "day_part": occ_part,
            "visits": occ_visits,
            "share": round(occ_visits / n_visits, 4),
            "kids_share": round(occasion_kids[(occ_day, occ_part)] / occ_visits, 4),
        }
        if n_visits >= MIN_RHYTHM_VISITS
        else None
    )

    ranked_skus = sorted(
        items, key=lambda s: (-len(items[s].visit_times), -items[s].last_ordered_at.timestamp(), s)
    )[:FAVOURITE_ITEMS]
    favourite_items = [
        {
            "sku": sku,
            "name": items[sku].name,
            "category": items[sku].category,
            "visits": len(items[sku].visit_times),
            "quantity": items[sku].quantity,
            "last_ordered_at": items[sku].last_ordered_at,
        }
        for sku in ranked_skus
    ]
    rhythm: dict[str, Any] | None = None
    if ranked_skus and len(items[ranked_skus[0]].visit_times) >= MIN_RHYTHM_VISITS:
        fav_sku = ranked_skus[0]
        fav = items[fav_sku]
        fav_days = fav.visit_times
        fav_intervals = [_days(fav_days[i] - fav_days[i - 1]) for i in range(1, len(fav_days))]
        fav_median = round(float(median(fav_intervals)), 1)
        rhythm = {
            "sku": fav_sku,
            "name": fav.name,
            "orders": len(fav_days),
            "median_interval_days": fav_median,
            "last_ordered_at": fav.last_ordered_at,
            "next_expected_at": fav.last_ordered_at + timedelta(days=fav_median),
        }

    category_counts: Counter[str] = Counter()
    drink_counts: Counter[str] = Counter()
    for cats in day_categories:
        category_counts.update(cats)
    for drinks in day_drinks:
        drink_counts.update(drinks)
    flag_totals = [sum(1 for f in day_flags if f & bit) for bit in (_DESSERT, _ALCOHOL, _BRUNCH, _KIDS)]

    lapse_after = max(LAPSE_INTERVAL_MULTIPLE * median_interval, LAPSE_MIN_DAYS) if median_interval else LAPSE_MIN_DAYS
    monetary = _score_lower(spend_12m, rfm_thresholds.spend_12m_cents)
    rfm = {
        "recency": _score_upper(days_since, rfm_thresholds.recency_days),
        "frequency": _score_lower(visits_12m, rfm_thresholds.visits_12m),
        "monetary": monetary,
    }
    due_at = last_at + timedelta(days=median_interval) if median_interval is not None else None
    fields: dict[str, Any] = {
        "visits_total": n_visits,
        "transactions_total": len(ordered),
        "first_visit_at": first_at,
        "last_visit_at": last_at,
        "days_since_last_visit": round(days_since, 2),
        "visits_12m": visits_12m,
        "spend_12m_cents": spend_12m,
        "spend_total_cents": spend_total,
        "avg_spend_cents": round(spend_total / n_visits),
        "rfm": rfm,
        "spend_tier": "high" if monetary >= 4 else "mid" if monetary >= 2 else "low",
        "avg_interval_days": avg_interval,
        "median_interval_days": median_interval,
        "next_visit_due_at": due_at,
        "next_visit_overdue": due_at is not None and due_at < now,
        "lapsed": days_since > lapse_after,
        "favourite_items": favourite_items,
        "favourite_categories": _top_shares(category_counts, n_visits, FAVOURITE_CATEGORIES),
        "drink_preferences": _top_shares(drink_counts, n_visits, FAVOURITE_CATEGORIES),
        "favourite_item_rhythm": rhythm,
        "dessert_share": round(flag_totals[0] / n_visits, 4),
        "alcohol_share": round(flag_totals[1] / n_visits, 4),
        "brunch_share": round(flag_totals[2] / n_visits, 4),
        "kids_share": round(flag_totals[3] / n_visits, 4),
        "day_part_shares": day_part_shares,
        "top_day_part": top_day_part,
        "weekday_shares": weekday_shares,
        "weekend_share": round((weekday_counts["Saturday"] + weekday_counts["Sunday"]) / n_visits, 4),
        "top_weekdays": top_weekdays,
        "top_occasion": top_occasion,
    }
    return _Aggregate(
        customer_id=customer_id,
        fields=fields,
        frequency=float(n_visits - 1),
        recency_days=_days(last_at - first_at),
        age_days=max(_days(now - first_at), _days(last_at - first_at)),
        visits=n_visits,
        mean_ticket_cents=spend_total / n_visits,
        last_visit_at=last_at,
        median_interval=median_interval,
    )


def _lifecycle(
    *, lapsed: bool, visits: int, p_alive: float, visits_12m: int, median_interval: float | None
) -> Lifecycle:
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


def _finish(aggregates: list[_Aggregate], model: MerchantModel, now: datetime) -> list[ProfileFeatures]:
    """The vectorised model step: BG/NBD and Gamma-Gamma over all customers at once."""
    if not aggregates:
        return []
    x = np.fromiter((a.frequency for a in aggregates), dtype=np.float64, count=len(aggregates))
    t_x = np.fromiter((a.recency_days for a in aggregates), dtype=np.float64, count=len(aggregates))
    t_obs = np.fromiter((a.age_days for a in aggregates), dtype=np.float64, count=len(aggregates))
    n = np.fromiter((a.visits for a in aggregates), dtype=np.float64, count=len(aggregates))
    mean_ticket = np.fromiter((a.mean_ticket_cents for a in aggregates), dtype=np.float64, count=len(aggregates))
    params = model.bgnbd
    alive = probability_alive(params, x, t_x, t_obs)
    visits_90 = expected_transactions(params, EXPECTED_VISITS_HORIZON_DAYS, x, t_x, t_obs)
    visits_365 = expected_transactions(params, CLV_HORIZON_DAYS, x, t_x, t_obs)
    wait_days = expected_interval_if_alive(params, x, t_obs)
    spend = expected_spend_per_visit(model.spend, n, mean_ticket)
    clv = clv_cents(visits_365, spend, gross_margin=model.gross_margin)

    out: list[ProfileFeatures] = []
    for i, agg in enumerate(aggregates):
        fields = agg.fields
        due_at = fields["next_visit_due_at"]
        basis: Literal["rhythm", "model"]
        if due_at is not None and due_at >= now:
            expected_next, basis = due_at, "rhythm"
        else:
            expected_next, basis = now + timedelta(days=float(wait_days[i])), "model"
        p_alive = float(alive[i])
        out.append(
            ProfileFeatures(
                customer_id=agg.customer_id,
                computed_at=now,
                model_source=model.source,
                expected_spend_per_visit_cents=round(float(spend[i])),
                expected_next_visit_at=expected_next,
                next_visit_basis=basis,
                p_alive=round(p_alive, 4),
                churn_risk=round(1.0 - p_alive, 4),
                expected_visits_90d=round(float(visits_90[i]), 3),
                clv_12m_cents=round(float(clv[i])),
                lifecycle=_lifecycle(
                    lapsed=bool(fields["lapsed"]),
                    visits=agg.visits,
                    p_alive=p_alive,
                    visits_12m=fields["visits_12m"],
                    median_interval=agg.median_interval,
                ),
                **fields,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class VisitSummary:
    """What the merchant-level model fits need from one customer (same visit definition as features)."""

    frequency: float  # repeat visits (visits - 1)
    recency_days: float
    age_days: float  # T
    visits: int
    mean_ticket_cents: float


def visit_summary(visits: Sequence[Visit], *, now: datetime) -> VisitSummary | None:
    """BG/NBD and spend inputs of one customer without the rest of the features (used by the fit)."""
    day_starts: list[datetime] = []
    day_totals: list[int] = []
    last_key: date | None = None
    for visit in sorted((v for v in visits if v.occurred_at <= now), key=lambda v: v.occurred_at):
        key = visit.occurred_at.astimezone(zone(visit.timezone)).date()
        if key != last_key:
            day_starts.append(visit.occurred_at)
            day_totals.append(0)
            last_key = key
        day_totals[-1] += visit.total_cents
    if not day_starts:
        return None
    recency = _days(day_starts[-1] - day_starts[0])
    return VisitSummary(
        frequency=float(len(day_starts) - 1),
        recency_days=recency,
        age_days=max(_days(now - day_starts[0]), recency),
        visits=len(day_starts),
        mean_ticket_cents=sum(day_totals) / len(day_starts),
    )


def _check_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now


def compute_features_batch(
    visits_by_customer: Mapping[int, Sequence[Visit]],
    *,
    model: MerchantModel = DEFAULT_MODEL,
    now: datetime | None = None,
    rfm_thresholds: RfmThresholds = DEFAULT_RFM,
) -> dict[int, ProfileFeatures]:
    """Features for many customers; customers without visits up to `now` are left out."""
    at = _check_now(now)
    aggregates = [
        agg
        for customer_id, visits in visits_by_customer.items()
        if (agg := _aggregate(customer_id, visits, at, rfm_thresholds)) is not None
    ]
    return {f.customer_id: f for f in _finish(aggregates, model, at) if f.customer_id is not None}


def compute_features(
    visits: Sequence[Visit],
    *,
    model: MerchantModel = DEFAULT_MODEL,
    now: datetime | None = None,
    customer_id: int | None = None,
    rfm_thresholds: RfmThresholds = DEFAULT_RFM,
) -> ProfileFeatures | None:
    """Features for one customer (the per-transaction path); None when there is no visit up to `now`."""
    at = _check_now(now)
    agg = _aggregate(customer_id, visits, at, rfm_thresholds)
    return _finish([agg], model, at)[0] if agg is not None else None
