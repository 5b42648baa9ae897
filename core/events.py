"""Inbound event shapes (the webhook contract), validated before anything is stored."""

from __future__ import annotations

import json
from datetime import date, datetime
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


class Money(BaseModel):
    amount: int = Field(ge=0, description="Minor units (cents).")
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


class SaleData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Id
    location_id: Id
    customer_id: Id | None = None
    line_items: list[LineItem] = Field(min_length=1, max_length=500)
    total_money: Money
    party_size: int | None = Field(default=None, ge=1, le=100)


class SaleCompleted(BaseModel):
    model_config = ConfigDict(extra="ignore")
    event: Literal["sale.completed"]
    event_id: Id
    created_at: AwareDatetime
    data: SaleData


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
