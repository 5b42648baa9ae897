"""Square orders and customers as our inbound events: pure mappings, no I/O.

A COMPLETED Square order becomes the same `sale.completed` the generic webhook takes (the contract
in the architecture note), so it goes down the one sale path with the one set of checks:
- the Square order id is the POS transaction id, so the payment and the order events of one
  purchase, and Square's redeliveries, all name the same sale;
- a line's sku is its catalog variation id (`catalog_object_id`): every itemised line carries it,
  while the seller's own SKU field is optional and not unique. The catalog sync uses the same id;
- a line's price is its gross sales (variation price plus modifiers); tax, tips and service charges
  are not spend on the menu and stay out of the total, which is lines minus discounts;
- the order's discounts are passed on by name: our promo codes are Square catalog discounts named
  after the code (see tools.pos.square), so a redeemed code comes back under its own name;
- the sale happened when the order closed (`closed_at`), not when the webhook arrived.

The SDK's types are only named for type checking, so importing this module does not load the SDK.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from core.events import Consent, CustomerData, CustomerUpdated, SaleCompleted
from tools.errors import PermanentError
from tools.pos.base import PosOrderLine

if TYPE_CHECKING:
    from square.types.order import Order
    from square.types.order_line_item import OrderLineItem

COMPLETED = "COMPLETED"
_NOT_DINING = frozenset({"GIFT_CARD"})  # selling a gift card is not a visit's spend
_MAX_QUANTITY = 1000
_MAX_NAME = 200
_MAX_SKU = 64


def order_lines(order: Order) -> list[PosOrderLine]:
    """The order's itemised lines, in order; gift-card lines and zero quantities left out."""
    lines = []
    for item in order.line_items or []:
        if str(item.item_type or "") in _NOT_DINING:
            continue
        quantity = _decimal(item.quantity)
        if quantity is None or quantity <= 0:
            continue
        gross = _gross_sales_cents(item, quantity)
        whole = quantity == quantity.to_integral_value() and quantity <= _MAX_QUANTITY
        if whole and gross % int(quantity) == 0:
            count, unit = int(quantity), gross // int(quantity)
        else:  # 1.5 kg, or a total that does not split evenly: one line at the line's price
            count, unit = 1, gross
        name = _line_name(item)
        lines.append(PosOrderLine(sku=_line_sku(item, name), name=name, quantity=count, unit_price_cents=unit))
    return lines


def order_customer_id(order: Order) -> str | None:
    """The guest on the order, else the guest a tender was taken from (card on file, loyalty lookup)."""
    if order.customer_id:
        return order.customer_id
    return next((t.customer_id for t in order.tenders or [] if t.customer_id), None)


def order_currency(order: Order) -> str:
    for money in [order.total_money, *(i.base_price_money for i in order.line_items or [])]:
        if money is not None and money.currency:
            return str(money.currency)
    raise PermanentError(f"Square order {order.id!r} carries no currency", code="INVALID_VALUE")


def sale_event(order: Order, *, event_id: str) -> dict[str, Any] | None:
    """The order as a generic `sale.completed` payload; None when it is not a completed sale of food and drink."""
    if str(order.state or "") != COMPLETED:
        return None
    lines = order_lines(order)
    if not lines:
        return None
    currency = order_currency(order)
    applied = [((d.name or d.uid or "discount")[:_MAX_NAME], d.applied_money.amount)
               for d in order.discounts or [] if d.applied_money is not None and d.applied_money.amount]
    subtotal = sum(line.unit_price_cents * line.quantity for line in lines)
    total = max(0, subtotal - sum(amount for _name, amount in applied))
    closed_at = order.closed_at or order.updated_at or order.created_at
    if not closed_at:
        raise PermanentError(f"Square order {order.id!r} has no closed_at/updated_at", code="INVALID_VALUE")
    data: dict[str, Any] = {
        "id": order.id,
        "location_id": order.location_id,
        "customer_id": order_customer_id(order),
        "line_items": [
            {"sku": line.sku, "name": line.name, "quantity": line.quantity,
             "price": str(Decimal(line.unit_price_cents) / 100)}
            for line in lines
        ],
        "total_money": {"amount": total, "currency": currency},
    }
    if applied:
        data["discounts"] = [{"code": name, "amount": {"amount": amount, "currency": currency}}
                             for name, amount in applied]
    return {"event": "sale.completed", "event_id": event_id, "created_at": closed_at, "data": data}


def sale_from_order(order: Order, *, event_id: str) -> SaleCompleted | None:
    """`sale_event`, validated by the same model as a generic webhook (bad data -> ValidationError)."""
    payload = sale_event(order, event_id=event_id)
    return None if payload is None else SaleCompleted.model_validate(payload)


def customer_update(customer: dict[str, Any], *, event_id: str, created_at: Any) -> CustomerUpdated:
    """A Square customer (webhook JSON, or a fetched customer dumped to JSON) as a profile update.

    Absent fields stay absent, so they leave our profile unchanged. Square's marketing-email
    preference is the guest's email choice; Square knows nothing of SMS, alcohol or allergies.
    """
    prefs = customer.get("preferences") or {}
    unsubscribed = prefs.get("email_unsubscribed") if isinstance(prefs, dict) else None
    data = CustomerData(
        customer_id=customer["id"],
        given_name=customer.get("given_name"),
        family_name=customer.get("family_name"),
        email=customer.get("email_address"),
        phone=customer.get("phone_number"),
        notes=customer.get("note"),
        birthday=square_birthday(customer.get("birthday")),
        consent=Consent(email=not unsubscribed) if isinstance(unsubscribed, bool) else None,
    )
    return CustomerUpdated(event="customer.updated", event_id=event_id, created_at=created_at, data=data)


def square_birthday(value: Any) -> date | None:
    """Square sends YYYY-MM-DD, or 0000-MM-DD when the guest gave no year (no age can be derived)."""
    if not isinstance(value, str) or not value or value.startswith("0000"):
        return None
    return date.fromisoformat(value[:10])


def _decimal(raw: str | None) -> Decimal | None:
    try:
        return Decimal(raw or "1")
    except InvalidOperation:
        return None


def _gross_sales_cents(item: OrderLineItem, quantity: Decimal) -> int:
    if item.gross_sales_money is not None and item.gross_sales_money.amount is not None:
        return item.gross_sales_money.amount
    base = item.base_price_money.amount if item.base_price_money and item.base_price_money.amount else 0
    modifiers = sum((m.total_price_money.amount or 0) for m in item.modifiers or [] if m.total_price_money)
    return int((Decimal(base) * quantity).to_integral_value()) + modifiers


def _line_name(item: OrderLineItem) -> str:
    name = (item.name or "").strip() or "Item"
    variation = (item.variation_name or "").strip()
    if variation and variation.lower() != "regular" and variation.lower() not in name.lower():
        name = f"{name} ({variation})"
    return name[:_MAX_NAME]


def _line_sku(item: OrderLineItem, name: str) -> str:
    if item.catalog_object_id:
        return item.catalog_object_id[:_MAX_SKU]
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "item"
    return f"custom:{slug}"[:_MAX_SKU]
