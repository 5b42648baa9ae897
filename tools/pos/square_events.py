"""Square webhook events as our inbound events, fetching from Square what the event only names.

- `payment.created` / `payment.updated` with status COMPLETED name the order they paid
  (`payment.order_id`); `order.created` / `order.updated` with state COMPLETED name it directly.
  Either way the order is fetched (RetrieveOrder) and, if it is completed, becomes one sale keyed on
  the Square order id (tools.pos.square_orders): the payment and the order events of one purchase,
  in any order and however often Square redelivers them, name the same sale, which is recorded once;
  the worker decides only for the event that recorded it.
- `customer.created` / `customer.updated` carry the customer; when one carries only its id, the
  customer is fetched (RetrieveCustomer).
- Everything else is acknowledged and ignored.

Errors: Square down, slow or rate limiting -> tools.errors.ToolUnavailable after a short in-process
retry, so the worker fails the event with backoff and tries again later (never lost); an order or
customer Square does not know, or a refused token -> PermanentError with Square's reason.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from core.events import CustomerUpdated, SaleCompleted
from core.settings import Settings
from db.tables import InboxEvent
from tools.pos.square_orders import COMPLETED, customer_update, sale_from_order

if TYPE_CHECKING:
    from tools.pos.square import SquarePos

PAYMENT_EVENTS = frozenset({"payment.created", "payment.updated"})
ORDER_EVENTS = {"order.created": "order_created", "order.updated": "order_updated"}  # type -> data.object key
CUSTOMER_EVENTS = frozenset({"customer.created", "customer.updated"})

# A worker does not sit out an outage in-process: two quick tries, then the inbox's backoff takes over.
FETCH_ATTEMPTS = 2
FETCH_TIMEOUT_S = 5.0


def square_to_generic(event: InboxEvent, settings: Settings) -> SaleCompleted | CustomerUpdated | None:
    """The sale or profile update a Square event stands for; None for events we only acknowledge."""
    payload = _object(event.payload)
    data = _object(payload.get("data"))
    obj = _object(data.get("object"))
    if event.event_type in PAYMENT_EVENTS:
        payment = _object(obj.get("payment"))
        order_id = payment.get("order_id") if payment.get("status") == COMPLETED else None
    elif event.event_type in ORDER_EVENTS:
        change = _object(obj.get(ORDER_EVENTS[event.event_type]))
        order_id = (change.get("order_id") or data.get("id")) if change.get("state") == COMPLETED else None
    elif event.event_type in CUSTOMER_EVENTS:
        return _customer(event, settings, payload, data, obj)
    else:
        return None
    if not isinstance(order_id, str) or not order_id:
        return None
    order = square_client(settings).retrieve_order(order_id)
    return sale_from_order(order, event_id=event.provider_event_id)


def _customer(event: InboxEvent, settings: Settings, payload: dict[str, Any], data: dict[str, Any],
              obj: dict[str, Any]) -> CustomerUpdated | None:
    customer = _object(obj.get("customer"))
    if not customer.get("id"):
        customer_id = data.get("id")
        if not isinstance(customer_id, str) or not customer_id:
            return None
        fetched = square_client(settings).retrieve_customer(customer_id)
        customer = fetched.model_dump(mode="json", exclude_none=True)
    return customer_update(customer, event_id=event.provider_event_id,
                           created_at=payload.get("created_at") or event.received_at)


def _object(value: Any) -> dict[str, Any]:
    """A JSON object, or {} for anything else: a signed event may still have an unexpected shape."""
    return value if isinstance(value, dict) else {}


_clients: dict[tuple[str | None, str | None, str], SquarePos] = {}
_clients_lock = threading.Lock()


def square_client(settings: Settings) -> SquarePos:
    """One Square client per configured seller, shared by the worker threads (the SDK is loaded on first use)."""
    key = (settings.square_access_token, settings.square_base_url, settings.square_environment)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            from tools.pos.square import SquarePos

            client = _clients[key] = SquarePos.from_settings(
                settings, retry_attempts=FETCH_ATTEMPTS, timeout_s=FETCH_TIMEOUT_S)
        return client
