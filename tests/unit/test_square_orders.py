"""Square orders, customers and webhook events as our inbound events (pure mapping, no network)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from square.types.order import Order

from core.settings import Settings
from db.tables import InboxEvent
from tests.integration.fake_square import order_event, payment_event, square_event, square_order
from tools.errors import PermanentError
from tools.pos.square_events import square_to_generic
from tools.pos.square_orders import customer_update, sale_from_order, square_birthday

CLOSED = datetime(2026, 1, 15, 19, 42, 5, tzinfo=UTC)


def _order(**kw: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "location_id": "L1", "customer_id": "C1", "closed_at": CLOSED,
        "lines": [("VAR_STEAK", "Ribeye", 1, 3800), ("VAR_WINE", "Malbec", 2, 1400), (None, "Corkage", 1, 1500)],
        "discounts": [("HV-7K2Q-9M", 570)], "tip": 1200,
    }
    options.update(kw)
    return square_order("ORD_1", **options)


def _inbox(payload: dict[str, Any]) -> InboxEvent:
    return InboxEvent(id="ev_1", provider="square", provider_event_id=payload["event_id"],
                      event_type=payload["type"], payload=payload, received_at=CLOSED)


def test_completed_order_is_one_sale_of_its_lines_minus_discounts() -> None:
    raw = _order()
    sale = sale_from_order(Order.model_validate(raw), event_id="sq_evt_1")
    assert sale is not None
    data = sale.data
    assert (data.id, data.location_id, data.customer_id) == ("ORD_1", "L1", "C1")
    assert sale.created_at == CLOSED  # when the order closed, not when the webhook came
    assert [(li.sku, li.name, li.quantity, li.price) for li in data.line_items] == [
        ("VAR_STEAK", "Ribeye", 1, Decimal("38")),
        ("VAR_WINE", "Malbec", 2, Decimal("14")),
        ("custom:corkage", "Corkage", 1, Decimal("15")),
    ]
    # tax and tip are in Square's total, not in the spend on the menu
    assert raw["total_money"]["amount"] == 8100 - 570 + raw["total_tax_money"]["amount"] + 1200
    assert data.total_money.amount == 8100 - 570 and data.total_money.currency == "USD"


def test_sale_payload_carries_discounts_by_name() -> None:
    from tools.pos.square_orders import sale_event

    payload = sale_event(Order.model_validate(_order()), event_id="e")
    assert payload is not None
    assert payload["data"]["discounts"] == [{"code": "HV-7K2Q-9M", "amount": {"amount": 570, "currency": "USD"}}]


def test_guest_named_only_on_the_tender_is_the_sale_guest() -> None:
    sale = sale_from_order(Order.model_validate(_order(customer_on_tender_only=True)), event_id="e")
    assert sale is not None and sale.data.customer_id == "C1"
    anonymous = sale_from_order(Order.model_validate(_order(customer_id=None)), event_id="e")
    assert anonymous is not None and anonymous.data.customer_id is None


@pytest.mark.parametrize("state", ["OPEN", "CANCELED", "DRAFT"])
def test_only_completed_orders_are_sales(state: str) -> None:
    assert sale_from_order(Order.model_validate(_order(state=state)), event_id="e") is None


def test_an_order_of_gift_cards_only_is_not_a_sale() -> None:
    raw = _order(lines=[(None, "Gift card", 1, 5000)], discounts=[])
    raw["line_items"][0]["item_type"] = "GIFT_CARD"
    assert sale_from_order(Order.model_validate(raw), event_id="e") is None


def test_customer_mapping_keeps_absent_fields_absent() -> None:
    update = customer_update({"id": "C9", "given_name": "Ana", "birthday": "0000-06-15",
                              "preferences": {"email_unsubscribed": True}, "note": "window seat"},
                             event_id="e", created_at=CLOSED)
    data = update.data
    assert (data.customer_id, data.given_name, data.notes) == ("C9", "Ana", "window seat")
    assert data.birthday is None and data.consent is not None and data.consent.email is False
    assert data.family_name is None and data.phone is None and data.allergies is None
    bare = customer_update({"id": "C9"}, event_id="e", created_at=CLOSED).data
    assert bare.consent is None
    assert square_birthday("1990-06-15") == date(1990, 6, 15)
    assert square_birthday("1990-06-15T00:00:00-00:00") == date(1990, 6, 15)


def _settings(tmp_path: Path, **kw: Any) -> Settings:
    return Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'x.db'}", **kw)


def test_events_that_are_not_completed_sales_need_no_fetch(tmp_path: Path) -> None:
    settings = _settings(tmp_path)  # no Square token: any fetch would fail with "not configured"
    order = _order()
    assert square_to_generic(_inbox(payment_event("payment.created", "p1", order, status="APPROVED")), settings) is None
    assert square_to_generic(_inbox(order_event("order.updated", "o1", _order(state="OPEN"))), settings) is None
    refund = square_event("refund.created", "r1", object_type="refund", object_id="R1", obj={"refund": {}})
    assert square_to_generic(_inbox(refund), settings) is None
    odd = square_event("payment.updated", "x1", object_type="payment", object_id="P", obj={"payment": "nope"})
    assert square_to_generic(_inbox(odd), settings) is None
    customer = square_event("customer.created", "c1", object_type="customer", object_id="C1",
                            obj={"customer": {"id": "C1", "given_name": "Maria"}})
    update = square_to_generic(_inbox(customer), settings)
    assert update is not None and update.event == "customer.updated" and update.data.given_name == "Maria"


def test_a_completed_payment_without_square_credentials_fails_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="SQUARE_ACCESS_TOKEN"):
        square_to_generic(_inbox(payment_event("payment.updated", "p2", _order())), _settings(tmp_path))
