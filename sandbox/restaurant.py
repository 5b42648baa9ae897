"""Harbor & Vine, the sandbox merchant: its locations, the plain records the generator produces, and
the calendar helpers every part of the generator shares (all times end at a fixed date, never the clock).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sandbox.menu import MenuItem

MERCHANT_ID = "m_sandbox"
MERCHANT_NAME = "Harbor & Vine"
CURRENCY = "USD"
DEFAULT_END = date(2026, 11, 1)


@dataclass(frozen=True, slots=True)
class SandboxLocation:
    id: str
    name: str
    timezone: str
    alcohol_policy: str  # "allowed" | "forbidden"

    @property
    def sells_alcohol(self) -> bool:
        return self.alcohol_policy == "allowed"


SANDBOX_LOCATIONS: tuple[SandboxLocation, ...] = (
    SandboxLocation("loc_1", "Harbor & Vine · Seaport", "America/New_York", "allowed"),
    # A campus site: dry by university rule, so it neither sells nor may promote alcohol.
    SandboxLocation("loc_2", "Harbor & Vine · University Commons", "America/Chicago", "forbidden"),
)
LOCATION_BY_ID = {loc.id: loc for loc in SANDBOX_LOCATIONS}


@dataclass(frozen=True, slots=True)
class SandboxContact:
    """Contact PII: goes only to `customer_contact`. Notes are deliberately messy test material."""

    given_name: str
    family_name: str
    email: str | None
    phone: str | None
    notes: str | None


class SandboxLine(NamedTuple):
    sku: str
    name: str
    quantity: int
    unit_price_cents: int


@dataclass(slots=True)
class SandboxTransaction:
    pos_transaction_id: str
    location_id: str
    pos_customer_id: str | None  # None = anonymous walk-in
    occurred_at: datetime  # aware UTC
    party_size: int
    total_cents: int
    lines: tuple[SandboxLine, ...]


@dataclass(frozen=True, slots=True)
class SandboxCustomer:
    pos_customer_id: str
    pseudonym: str
    personas: tuple[str, ...]  # primary persona first, then traits; ground truth, never stored
    signature_sku: str | None  # regulars only
    rhythm_days: int | None  # regulars only: nominal days between visits
    tier: str
    points: int
    points_earned: int
    consent_sms: bool
    consent_email: bool
    consent_alcohol_marketing: bool
    opted_out_at: datetime | None
    age_verified: bool
    birthday: date | None
    allergies: tuple[str, ...] | None  # None = unknown, () = known to have none
    timezone: str
    home_location_id: str
    created_at: datetime
    updated_at: datetime
    contact: SandboxContact

    def is_minor_on(self, day: date) -> bool:
        """Under 21 on `day` (unknown birthday counts as adult: it is the age check's job)."""
        return self.birthday is not None and age_years(self.birthday, day) < 21


@dataclass(slots=True)
class SandboxData:
    merchant_id: str
    merchant_name: str
    start: date
    end: date
    locations: tuple[SandboxLocation, ...]
    menu: tuple[MenuItem, ...]
    customers: list[SandboxCustomer] = field(default_factory=list)
    transactions: list[SandboxTransaction] = field(default_factory=list)

    def personas(self) -> dict[str, list[str]]:
        return {c.pos_customer_id: list(c.personas) for c in self.customers}


def pos_customer_id(index: int) -> str:
    return f"cust_{index:06d}"


def short_hash(text: str, size: int = 8) -> str:
    return hashlib.blake2b(text.encode(), digest_size=size).hexdigest()


def _months_before(day: date, months: int) -> date:
    month_index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(month_index, 12)
    month += 1
    next_month = date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_month - timedelta(days=1)).day
    return date(year, month, min(day.day, last_day))


def age_years(birthday: date, on: date) -> int:
    return on.year - birthday.year - ((on.month, on.day) < (birthday.month, birthday.day))


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_to_utc(day: date, minute_of_day: int, second: int, tz_name: str) -> datetime:
    """Wall-clock time at a location → aware UTC (minutes past 1440 roll into the next day)."""
    local = datetime(day.year, day.month, day.day, tzinfo=_zone(tz_name)) + timedelta(
        minutes=minute_of_day, seconds=second
    )
    return local.astimezone(UTC)


def history_window(months: int, end: date) -> tuple[date, date]:
    if months < 1:
        raise ValueError("months must be >= 1")
    return _months_before(end, months), end
