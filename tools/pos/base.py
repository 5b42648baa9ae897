"""The POS adapter interface shared by the sandbox POS and the Square adapter.

Side-effecting methods take an idempotency key (see tools.idempotency.idempotency_key) and
are safe to call again with the same key: the second call returns the first call's result
and changes nothing. Customers are identified by their POS id, the only id a real POS knows;
`customer_id` in `create_promo_code` is our internal id, recorded for reporting only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from tools.errors import PermanentError

ACTION_CREATE_PROMO = "pos.create_promo_code"
ACTION_ATTACH_PROMO = "pos.attach_promo_to_customer"
ACTION_ACCRUE_POINTS = "pos.accrue_points"
ACTION_REDEEM_POINTS = "pos.redeem_points"

# Crockford-style alphabet without 0/O, 1/I/L, U: readable aloud and typeable at a till.
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True)
class PosOrderLine:
    sku: str
    name: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True)
class PosOrder:
    pos_transaction_id: str
    location_id: str | None
    pos_customer_id: str | None
    occurred_at: datetime | None
    total_cents: int
    currency: str
    lines: list[PosOrderLine] = field(default_factory=list)


@dataclass(frozen=True)
class PosCustomer:
    """A guest as the POS knows them. Contains contact PII: never put it in audit outputs or prompts."""

    pos_customer_id: str
    given_name: str | None
    family_name: str | None
    email: str | None
    phone: str | None
    points: int | None


@dataclass(frozen=True)
class PromoCodeResult:
    code: str
    pos_reference: str | None
    # True when this call found the effect of an earlier call with the same key (known for the sandbox;
    # Square answers a repeated key with the original response and does not say so).
    replayed: bool = False


@dataclass(frozen=True)
class AttachResult:
    code: str
    pos_customer_id: str
    pos_reference: str | None
    replayed: bool = False


@dataclass(frozen=True)
class PointsResult:
    balance: int
    pos_reference: str | None
    replayed: bool = False


@runtime_checkable
class PosAdapter(Protocol):
    """What the execute node may do to a POS. Implementations retry transient errors themselves and
    raise tools.errors.ToolUnavailable when the POS stays unreachable."""

    name: str

    def get_order(self, pos_transaction_id: str) -> PosOrder | None: ...

    def get_customer(self, pos_customer_id: str) -> PosCustomer | None: ...

    def create_promo_code(
        self,
        *,
        idempotency_key: str,
        merchant_id: str,
        offer_id: str | None,
        customer_id: int | None,
        sku: str | None,
        category: str | None,
        discount_pct: float | None,
        discount_cents: int | None,
        expires_at: datetime | None,
    ) -> PromoCodeResult: ...

    def attach_promo_to_customer(self, *, idempotency_key: str, code: str, pos_customer_id: str) -> AttachResult: ...

    def accrue_points(
        self,
        *,
        idempotency_key: str,
        pos_customer_id: str,
        points: int,
        reason: str,
        transaction_id: str | None = None,
        offer_id: str | None = None,
    ) -> PointsResult: ...

    def redeem_points(
        self,
        *,
        idempotency_key: str,
        pos_customer_id: str,
        points: int,
        reason: str,
        offer_id: str | None = None,
    ) -> PointsResult: ...


def promo_code_for(idempotency_key: str, *, prefix: str = "HV", salt: int = 0) -> str:
    """Human-friendly code derived from the idempotency key, e.g. "HV-7K2Q-9M".

    Deterministic so a retry after a crash produces the very same code; `salt` picks the next
    candidate in the (astronomically rare) case two keys map to the same code.
    """
    digest = hashlib.sha256(f"{idempotency_key}#{salt}".encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    chars = []
    for _ in range(6):
        number, index = divmod(number, len(_CODE_ALPHABET))
        chars.append(_CODE_ALPHABET[index])
    body = "".join(chars)
    return f"{prefix}-{body[:4]}-{body[4:]}"


def validate_discount(
    *, discount_pct: float | None, discount_cents: int | None, expires_at: datetime | None
) -> None:
    """Refuse malformed promo terms before touching any POS (PermanentError: not worth a retry)."""
    if (discount_pct is None) == (discount_cents is None):
        raise PermanentError("exactly one of discount_pct or discount_cents is required", code="INVALID_VALUE")
    if discount_pct is not None and not 0 < discount_pct <= 100:
        raise PermanentError(f"discount_pct must be in (0, 100], got {discount_pct}", code="INVALID_VALUE")
    if discount_cents is not None and discount_cents <= 0:
        raise PermanentError(f"discount_cents must be positive, got {discount_cents}", code="INVALID_VALUE")
    if expires_at is not None and expires_at.tzinfo is None:
        raise PermanentError("expires_at must be timezone-aware", code="INVALID_VALUE")


def validate_points(points: int) -> None:
    if points <= 0:
        raise PermanentError(f"points must be positive, got {points}", code="INVALID_VALUE")
