"""Square adapter on the official `squareup` SDK (the Fern-generated `square.Square` client).

Mapping of our POS operations onto Square:
- get_order / get_customer: `orders.get` (RetrieveOrder), `customers.get` (404 -> None);
  retrieve_order / retrieve_customer: the same calls returning Square's objects, a 404 being a
  PermanentError (the webhook path turns completed orders into sales: tools.pos.square_events);
- list_catalog / list_locations: ListCatalog (every page) and ListLocations, for the catalog sync;
- create_promo_code: `catalog.object.upsert` of a CATALOG `DISCOUNT` named after the code
  (percentage or fixed amount) — what a cashier applies at the register;
- attach_promo_to_customer: `customers.custom_attributes.upsert` of the code under a
  seller-defined attribute key, so the guest's profile shows their offer;
- accrue_points / redeem_points: `loyalty.accounts.accumulate_points` / `loyalty.accounts.adjust`
  (negative), after finding the guest's loyalty account with `loyalty.accounts.search`.

Every write passes our idempotency key to Square's native `idempotency_key`, so a retry (ours,
or a worker re-running the decision) returns Square's original response instead of a duplicate.
The SDK's own retries are switched off (`max_retries=0`) so tenacity is the only retry policy.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from square import Square
from square.core.api_error import ApiError
from square.core.request_options import RequestOptions
from square.environment import SquareEnvironment
from square.types.catalog_object import CatalogObject
from square.types.customer import Customer
from square.types.location import Location
from square.types.order import Order

from tools.errors import PermanentError, RetryableError
from tools.idempotency import error_for_status, retrying
from tools.pos.base import (
    AttachResult,
    PointsResult,
    PosCustomer,
    PosOrder,
    PromoCodeResult,
    promo_code_for,
    validate_discount,
    validate_points,
)
from tools.pos.square_orders import order_customer_id, order_lines

if TYPE_CHECKING:
    from core.settings import Settings

T = TypeVar("T")

PROMO_ATTRIBUTE_KEY = "loyalty_agent_promo_code"
_NO_SDK_RETRIES: RequestOptions = {"max_retries": 0}


class SquarePos:
    """POS adapter for a Square seller. `base_url` overrides the environment (tests point it at a fake)."""

    name = "square"

    def __init__(
        self,
        *,
        access_token: str,
        base_url: str | None = None,
        environment: SquareEnvironment = SquareEnvironment.SANDBOX,
        location_id: str | None = None,
        currency: str = "USD",
        code_prefix: str = "HV",
        timeout_s: float = 10.0,
        retry_attempts: int = 4,
        retry_base_delay_s: float = 0.25,
        retry_max_delay_s: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        client: Square | None = None,
    ) -> None:
        self._client = client or Square(
            token=access_token, base_url=base_url, environment=environment, timeout=timeout_s
        )
        self._location_id = location_id
        self._currency = currency
        self._code_prefix = code_prefix
        self._retry_kwargs: dict[str, Any] = {
            "attempts": retry_attempts,
            "base_delay_s": retry_base_delay_s,
            "max_delay_s": retry_max_delay_s,
            "sleep": sleep,
        }

    # -- reads -------------------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> SquarePos:
        """The adapter for the configured seller (`SQUARE_ACCESS_TOKEN`, `SQUARE_ENVIRONMENT`, ...)."""
        if not settings.square_access_token:
            raise PermanentError("Square is not configured: set SQUARE_ACCESS_TOKEN", code="CONFIG")
        environment = SquareEnvironment.PRODUCTION if settings.square_environment == "production" \
            else SquareEnvironment.SANDBOX
        return cls(access_token=settings.square_access_token, base_url=settings.square_base_url,
                   environment=environment, location_id=settings.square_location_id, **options)

    def get_order(self, pos_transaction_id: str) -> PosOrder | None:
        response = self._call(
            "square.orders.get",
            lambda: self._client.orders.get(pos_transaction_id, request_options=_NO_SDK_RETRIES),
            not_found_is_none=True,
        )
        if response is None or response.order is None:
            return None
        order = response.order
        total = order.total_money
        return PosOrder(
            pos_transaction_id=order.id or pos_transaction_id,
            location_id=order.location_id,
            pos_customer_id=order_customer_id(order),
            occurred_at=_parse_time(order.closed_at or order.created_at),
            total_cents=(total.amount or 0) if total else 0,
            currency=str(total.currency) if total and total.currency else self._currency,
            lines=order_lines(order),
        )

    def retrieve_order(self, order_id: str) -> Order:
        """RetrieveOrder. Unknown order -> PermanentError (404); Square down -> ToolUnavailable."""
        response = self._call(
            "square.orders.get", lambda: self._client.orders.get(order_id, request_options=_NO_SDK_RETRIES)
        )
        if response is None or response.order is None:
            raise PermanentError(f"Square returned no order for {order_id!r}", code="NOT_FOUND")
        return response.order

    def retrieve_customer(self, customer_id: str) -> Customer:
        """RetrieveCustomer. Unknown customer -> PermanentError (404); Square down -> ToolUnavailable."""
        response = self._call(
            "square.customers.get",
            lambda: self._client.customers.get(customer_id, request_options=_NO_SDK_RETRIES),
        )
        if response is None or response.customer is None:
            raise PermanentError(f"Square returned no customer for {customer_id!r}", code="NOT_FOUND")
        return response.customer

    def list_catalog(self, types: str) -> Iterator[CatalogObject]:
        """ListCatalog for `types` (comma-separated), every page; each page is retried on its own."""
        cursor: str | None = None
        while True:
            pager = self._call(
                "square.catalog.list",
                functools.partial(self._client.catalog.list, cursor=cursor, types=types,
                                  request_options=_NO_SDK_RETRIES),
            )
            if pager is None:
                return
            yield from pager.response.objects or []
            cursor = pager.response.cursor
            if not cursor:
                return

    def list_locations(self) -> list[Location]:
        response = self._call(
            "square.locations.list", lambda: self._client.locations.list(request_options=_NO_SDK_RETRIES)
        )
        return list(response.locations or []) if response is not None else []

    def get_customer(self, pos_customer_id: str) -> PosCustomer | None:
        response = self._call(
            "square.customers.get",
            lambda: self._client.customers.get(pos_customer_id, request_options=_NO_SDK_RETRIES),
            not_found_is_none=True,
        )
        if response is None or response.customer is None:
            return None
        customer = response.customer
        return PosCustomer(
            pos_customer_id=customer.id or pos_customer_id,
            given_name=customer.given_name,
            family_name=customer.family_name,
            email=customer.email_address,
            phone=customer.phone_number,
            points=None,
        )

    # -- promo codes -------------------------------------------------------------------------

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
    ) -> PromoCodeResult:
        """Create a catalog DISCOUNT named after a code derived from the key (same key -> same code).

        Square's discount object carries no expiry or item targeting; the structured terms stay on
        our offer row and the discount is looked up by its code at the register.
        """
        validate_discount(discount_pct=discount_pct, discount_cents=discount_cents, expires_at=expires_at)
        code = promo_code_for(idempotency_key, prefix=self._code_prefix)
        discount_data: dict[str, Any] = {"name": code, "pin_required": False}
        if discount_pct is not None:
            discount_data |= {"discount_type": "FIXED_PERCENTAGE", "percentage": f"{discount_pct:.2f}"}
        else:
            discount_data |= {
                "discount_type": "FIXED_AMOUNT",
                "amount_money": {"amount": discount_cents, "currency": self._currency},
            }
        catalog_object: Any = {
            "type": "DISCOUNT",
            "id": f"#{code}",
            "present_at_all_locations": True,
            "discount_data": discount_data,
        }
        response = self._call(
            "square.catalog.object.upsert",
            lambda: self._client.catalog.object.upsert(
                idempotency_key=idempotency_key, object=catalog_object, request_options=_NO_SDK_RETRIES
            ),
        )
        created = response.catalog_object if response is not None else None
        if created is None or created.id is None:
            raise RetryableError("Square upsert returned no catalog object")
        return PromoCodeResult(code=code, pos_reference=created.id, replayed=False)

    def attach_promo_to_customer(self, *, idempotency_key: str, code: str, pos_customer_id: str) -> AttachResult:
        response = self._call(
            "square.customers.custom_attributes.upsert",
            lambda: self._client.customers.custom_attributes.upsert(
                pos_customer_id,
                PROMO_ATTRIBUTE_KEY,
                custom_attribute={"value": code},
                idempotency_key=idempotency_key,
                request_options=_NO_SDK_RETRIES,
            ),
        )
        attribute = response.custom_attribute if response is not None else None
        reference = f"{pos_customer_id}/{attribute.key or PROMO_ATTRIBUTE_KEY}" if attribute else None
        return AttachResult(code=code, pos_customer_id=pos_customer_id, pos_reference=reference)

    # -- loyalty points ------------------------------------------------------------------------

    def accrue_points(
        self,
        *,
        idempotency_key: str,
        pos_customer_id: str,
        points: int,
        reason: str,
        transaction_id: str | None = None,
        offer_id: str | None = None,
    ) -> PointsResult:
        """Accumulate `points` on the guest's loyalty account (points given explicitly, not computed
        by Square from an order, so bonus points of an offer and purchase points take one path)."""
        validate_points(points)
        if not self._location_id:
            raise PermanentError("SquarePos needs location_id to accumulate loyalty points", code="CONFIG")
        location_id = self._location_id
        account_id = self._loyalty_account_id(pos_customer_id)
        response = self._call(
            "square.loyalty.accounts.accumulate_points",
            lambda: self._client.loyalty.accounts.accumulate_points(
                account_id,
                accumulate_points={"points": points},
                idempotency_key=idempotency_key,
                location_id=location_id,
                request_options=_NO_SDK_RETRIES,
            ),
        )
        events = (response.events or []) if response is not None else []
        reference = events[0].id if events else None
        return PointsResult(balance=self._balance(account_id), pos_reference=reference)

    def redeem_points(
        self,
        *,
        idempotency_key: str,
        pos_customer_id: str,
        points: int,
        reason: str,
        offer_id: str | None = None,
    ) -> PointsResult:
        validate_points(points)
        account_id = self._loyalty_account_id(pos_customer_id)
        response = self._call(
            "square.loyalty.accounts.adjust",
            lambda: self._client.loyalty.accounts.adjust(
                account_id,
                idempotency_key=idempotency_key,
                adjust_points={"points": -points, "reason": reason[:100]},
                allow_negative_balance=False,
                request_options=_NO_SDK_RETRIES,
            ),
        )
        event = response.event if response is not None else None
        return PointsResult(balance=self._balance(account_id), pos_reference=event.id if event else None)

    # -- helpers -------------------------------------------------------------------------------

    def _loyalty_account_id(self, pos_customer_id: str) -> str:
        response = self._call(
            "square.loyalty.accounts.search",
            lambda: self._client.loyalty.accounts.search(
                query={"customer_ids": [pos_customer_id]}, limit=1, request_options=_NO_SDK_RETRIES
            ),
        )
        accounts = (response.loyalty_accounts or []) if response is not None else []
        if not accounts or not accounts[0].id:
            raise PermanentError(f"customer {pos_customer_id!r} has no Square loyalty account", code="NOT_FOUND")
        return accounts[0].id

    def _balance(self, account_id: str) -> int:
        response = self._call(
            "square.loyalty.accounts.get",
            lambda: self._client.loyalty.accounts.get(account_id, request_options=_NO_SDK_RETRIES),
        )
        account = response.loyalty_account if response is not None else None
        return (account.balance or 0) if account else 0

    def _call(self, tool: str, request: Callable[[], T], *, not_found_is_none: bool = False) -> T | None:
        """Run one SDK request under the shared retry policy, translating Square's errors."""

        @retrying(tool, **self._retry_kwargs)
        def attempt() -> T | None:
            try:
                return request()
            except ApiError as exc:
                status = exc.status_code or 0
                if not_found_is_none and status == 404:
                    return None
                raise error_for_status(status, _describe(exc), code=_first_code(exc)) from exc
            except httpx.TransportError as exc:  # connection refused, reset, timeouts
                raise RetryableError(f"{type(exc).__name__}: {exc}") from exc

        return attempt()


def _describe(exc: ApiError) -> str:
    details = [f"{e.code}: {e.detail}" if e.detail else str(e.code) for e in exc.errors]
    return f"Square HTTP {exc.status_code}: {'; '.join(details) or exc.body!r}"


def _first_code(exc: ApiError) -> str | None:
    return str(exc.errors[0].code) if exc.errors else None


def _parse_time(raw: str | None) -> datetime | None:
    if not raw:
        return None
    parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else None
