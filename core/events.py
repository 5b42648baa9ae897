"""Inbound event shapes (the webhook contract), validated before anything is stored."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

# Our own events are 4 levels deep and Square's about 8; nothing legitimate comes near 32. The bound keeps
# a small body from becoming a deep structure for every later json.dumps/loads and validator to recurse into.
MAX_JSON_DEPTH = 32


class PayloadError(ValueError):
    """The body is not JSON we will read (malformed, not UTF-8, or nested too deep)."""


def parse_json(body: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`body` as JSON, refusing anything nested deeper than `max_depth` containers."""
    try:
        value = json.loads(body)
    except RecursionError as exc:  # deeper than the interpreter's own limit (~1,000)
        raise PayloadError(f"JSON nested deeper than {max_depth} levels") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from exc
    if json_depth(value, stop_after=max_depth) > max_depth:
        raise PayloadError(f"JSON nested deeper than {max_depth} levels")
    return value


def json_depth(value: Any, *, stop_after: int | None = None) -> int:
    """Container nesting depth of a parsed JSON value (a scalar is 0, `[]` is 1), without recursion.

    Stops as soon as the depth exceeds `stop_after`, so a refusal costs no more than the part it read.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if stop_after is not None and deepest > stop_after:
            return deepest
        stack.extend((child, depth) for child in children)
    return deepest


Id = Annotated[str, StringConstraints(min_length=1, max_length=128, strip_whitespace=True)]


# Amounts are stored in 32-bit integer columns; no restaurant ticket comes near $21M.
MAX_AMOUNT_CENTS = 2**31 - 1


class Money(BaseModel):
    amount: int = Field(ge=0, le=MAX_AMOUNT_CENTS, description="Minor units (cents).")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "USD"


class LineItem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sku: Id
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    quantity: int = Field(ge=1, le=1000)
    price: Decimal = Field(ge=0, le=100_000, decimal_places=2, description="Unit price in major units.")

    @property
    def unit_price_cents(self) -> int:
        return int((self.price * 100).to_integral_value())


class Discount(BaseModel):
    """A discount applied at the till; `code` is the promo code (or the POS's name for the discount)."""

    model_config = ConfigDict(extra="ignore")
    code: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
    amount: Money


class SaleData(BaseModel):
    """One sale. `total_money` is what the guest paid for the menu: the lines minus the discounts,
    before tax, tips and service charges (those are not spend on the menu, and the value figures
    built from totals must not count them). See `sale_refusal` for how closely it must agree."""

    model_config = ConfigDict(extra="ignore")
    id: Id
    location_id: Id
    customer_id: Id | None = None
    line_items: list[LineItem] = Field(min_length=1, max_length=500)
    discounts: list[Discount] = Field(default_factory=list, max_length=50)
    total_money: Money
    party_size: int | None = Field(default=None, ge=1, le=100)

    @property
    def lines_cents(self) -> int:
        return sum(li.unit_price_cents * li.quantity for li in self.line_items)

    @property
    def discounts_cents(self) -> int:
        return sum(d.amount.amount for d in self.discounts)


class SaleCompleted(BaseModel):
    model_config = ConfigDict(extra="ignore")
    event: Literal["sale.completed"]
    event_id: Id
    created_at: AwareDatetime
    data: SaleData


class SaleChecks(BaseModel):
    """How far a signed sale may stray from its own lines and from our clock (`Settings.sale_checks`).

    The total may differ from lines minus discounts by the larger of one cent per line (a POS that
    rounds each line's share of a percentage discount) and `total_tolerance_pct` of the expected total
    (a POS that rounds once more on the whole ticket). Nothing legitimate differs by more; a total
    that does could only inflate (or deflate) the guest's value figures, and by at most that much.
    """

    model_config = ConfigDict(frozen=True)
    total_tolerance_pct: float = Field(default=1.0, ge=0, le=10)
    total_tolerance_cents_per_line: int = Field(default=1, ge=0, le=100)
    max_future_s: int = Field(default=300, ge=0, le=86_400, description="POS clocks run a little fast; not more.")


@dataclass(frozen=True)
class SaleProblem:
    """Why a sale is refused: where (as in a validation error's `loc`) and what."""

    loc: tuple[str, ...]
    msg: str


def sale_refusal(sale: SaleCompleted, *, currency: str, now: datetime | None,
                 checks: SaleChecks) -> list[SaleProblem]:
    """Every reason to refuse `sale` (empty: accept). A pure function of the sale and the merchant's facts.

    `currency` is the merchant's; `now` None skips the clock check (the worker re-checks a sale the
    webhook already checked against the clock it arrived by, and evaluations run on their own clocks).
    """
    problems: list[SaleProblem] = []
    data = sale.data
    monies: list[tuple[tuple[str, ...], Money]] = [(("data", "total_money", "currency"), data.total_money)]
    monies += [(("data", "discounts", str(i), "amount", "currency"), d.amount) for i, d in enumerate(data.discounts)]
    for loc, money in monies:
        if money.currency != currency:
            problems.append(SaleProblem(loc, f"currency {money.currency} is not the merchant's currency ({currency})"))
    if now is not None and sale.created_at > now + timedelta(seconds=checks.max_future_s):
        problems.append(SaleProblem(("created_at",), f"created_at {sale.created_at.isoformat()} is more than "
                                                     f"{checks.max_future_s} s in the future"))
    lines, discounts = data.lines_cents, data.discounts_cents
    expected = max(0, lines - discounts)
    tolerance = max(checks.total_tolerance_cents_per_line * len(data.line_items),
                    math.ceil(expected * checks.total_tolerance_pct / 100))
    if abs(data.total_money.amount - expected) > tolerance:
        problems.append(SaleProblem(("data", "total_money", "amount"), (
            f"total {data.total_money.amount} does not reconcile with the sale: lines {lines} minus discounts "
            f"{discounts} is {expected} (tolerance {tolerance}); amounts are cents, and the total excludes "
            "tax, tips and service charges")))
    return problems


class Consent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sms: bool | None = None
    email: bool | None = None
    alcohol_marketing: bool | None = None


class CustomerData(BaseModel):
    """A POS guest-profile create/update. Unknown fields are ignored; absent fields are left unchanged."""

    model_config = ConfigDict(extra="ignore")
    customer_id: Id
    given_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    family_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    email: Annotated[str, StringConstraints(max_length=254)] | None = None
    phone: Annotated[str, StringConstraints(max_length=32)] | None = None
    birthday: date | None = None
    allergies: list[Annotated[str, StringConstraints(max_length=40)]] | None = Field(default=None, max_length=20)
    age_verified: bool | None = None
    consent: Consent | None = None
    timezone: Annotated[str, StringConstraints(max_length=64)] | None = None
    notes: Annotated[str, StringConstraints(max_length=4000)] | None = None
    opted_out: bool | None = None


class CustomerUpdated(BaseModel):
    model_config = ConfigDict(extra="ignore")
    event: Literal["customer.updated"]
    event_id: Id
    created_at: AwareDatetime
    data: CustomerData


GenericEvent = Annotated[SaleCompleted | CustomerUpdated, Field(discriminator="event")]


class GenericEnvelope(BaseModel):
    body: GenericEvent


class SquareEvent(BaseModel):
    """Square's webhook envelope (https://developer.squareup.com/docs/webhooks/overview)."""

    model_config = ConfigDict(extra="ignore")
    merchant_id: str | None = None
    type: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    event_id: Id
    created_at: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)


def parse_generic(payload: Any) -> SaleCompleted | CustomerUpdated:
    return GenericEnvelope.model_validate({"body": payload}).body
