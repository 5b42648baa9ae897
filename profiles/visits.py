"""What a visit is: the input types of the profile features and the customer-day they are merged into.

Definitions (all in the visit location's local time):
- A *visit* is a customer-day: transactions of one customer on the same local date are merged (a bar
  tab and a dinner bill are one outing). This is also the transaction unit BG/NBD counts.
- Day parts: late 22:00-04:59; breakfast 05:00-10:59 on weekdays, 05:00-09:59 on weekends;
  brunch 10:00-15:59 on Saturday/Sunday; lunch 11:00-15:59 on weekdays; dinner 16:00-21:59.
  A merged visit takes the day part of its first transaction.
- Visits after `now` are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

DayPart = Literal["breakfast", "brunch", "lunch", "dinner", "late"]

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

# Bits of `VisitDay.flags`: the visit had at least one line of that kind.
DESSERT, ALCOHOL, BRUNCH, KIDS = 1, 2, 4, 8


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


@lru_cache(maxsize=4096)
def classify_line(category: str | None, subcategory: str | None, contains_alcohol: bool | None) -> tuple[str, int, str]:
    """(normalised category, flag bits, drink subcategory or "") of a line; cached because a menu
    has few distinct (category, subcategory) pairs and this runs once per line in the batch."""
    cat = (category or "").lower()
    sub = (subcategory or "").lower()
    alcohol = contains_alcohol if contains_alcohol is not None else sub in ALCOHOL_SUBCATEGORIES
    bits = (
        (DESSERT if cat in DESSERT_CATEGORIES else 0)
        | (ALCOHOL if alcohol else 0)
        | (BRUNCH if cat in BRUNCH_CATEGORIES else 0)
        | (KIDS if cat in KIDS_CATEGORIES else 0)
    )
    return cat, bits, sub if cat in DRINK_CATEGORIES else ""


@dataclass(slots=True)
class VisitDay:
    """One visit: the customer's transactions on one local date, merged."""

    date: date  # local date at the location
    started_at: datetime  # first transaction (aware)
    local_start: datetime  # the same instant in the location's local time (day part, weekday)
    total_cents: int
    skus: set[str]
    flags: int  # bit set of DESSERT, ALCOHOL, BRUNCH, KIDS
    categories: set[str]  # normalised categories of its lines
    drinks: set[str]  # drink subcategories of its lines


@dataclass(slots=True)
class ItemStats:
    """One sku across a customer's history."""

    name: str
    category: str | None
    quantity: int
    last_ordered_at: datetime
    visit_times: list[datetime]  # first order time on each visit with the item


@dataclass(slots=True)
class CustomerDays:
    """A customer's history up to `now` as visits (oldest first) and per-item statistics."""

    days: list[VisitDay]
    items: dict[str, ItemStats]
    transactions: int  # POS transactions merged into `days`


def customer_days(visits: Sequence[Visit], now: datetime) -> CustomerDays | None:
    """Merge transactions up to `now` into customer-days; None when there is none."""
    ordered = sorted((v for v in visits if v.occurred_at <= now), key=lambda v: v.occurred_at)
    if not ordered:
        return None
    days: list[VisitDay] = []
    items: dict[str, ItemStats] = {}
    for visit in ordered:
        local = visit.occurred_at.astimezone(zone(visit.timezone))
        key = local.date()
        if not days or days[-1].date != key:
            days.append(VisitDay(key, visit.occurred_at, local, 0, set(), 0, set(), set()))
        day = days[-1]
        day.total_cents += visit.total_cents
        flags, skus, cats, drinks = 0, day.skus, day.categories, day.drinks
        at = visit.occurred_at
        for line in visit.lines:
            sku, name, raw_category, quantity = line.sku, line.name, line.category, line.quantity
            category, bits, drink = classify_line(raw_category, line.subcategory, line.contains_alcohol)
            flags |= bits
            if category:
                cats.add(category)
            if drink:
                drinks.add(drink)
            stats = items.get(sku)
            if stats is None:
                items[sku] = ItemStats(name, raw_category, quantity, at, [at])
            else:
                stats.name, stats.category = name, raw_category or stats.category
                stats.quantity += quantity
                stats.last_ordered_at = at
                if sku not in skus:
                    stats.visit_times.append(at)
            skus.add(sku)
        day.flags |= flags
    return CustomerDays(days, items, len(ordered))


def days_between(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 86400.0


@dataclass(frozen=True, slots=True)
class VisitSummary:
    """What the merchant-level model fits need from one customer (same visit definition as features)."""

    frequency: float  # repeat visits (visits - 1)
    recency_days: float
    age_days: float  # T
    visits: int
    mean_ticket_cents: float


def visit_summary(visits: Sequence[Visit], *, now: datetime) -> VisitSummary | None:
    """BG/NBD and spend inputs of one customer without the rest of the features (used by the fit).

    Only dates and totals: skipping the lines keeps the fit's pass over a whole merchant cheap.
    """
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
    return summary_of(day_starts[0], day_starts[-1], len(day_starts), sum(day_totals), now=now)


def summary_of(first_at: datetime, last_at: datetime, visits: int, spend_cents: int, *, now: datetime) -> VisitSummary:
    """BG/NBD inputs: frequency = visits - 1, recency = first to last visit, T = first visit to `now`."""
    recency = days_between(last_at, first_at)
    return VisitSummary(
        frequency=float(visits - 1),
        recency_days=recency,
        age_days=max(days_between(now, first_at), recency),
        visits=visits,
        mean_ticket_cents=spend_cents / visits,
    )
