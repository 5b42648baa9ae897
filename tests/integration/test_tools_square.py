"""SquarePos (official `squareup` SDK) against the faithful local fake of Square's HTTP API on loopback
(tests/integration/fake_square.py): Square's JSON shapes, bearer auth, idempotency semantics, and
faults on demand (503 before handling, a lost response, a stall past the client timeout).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.fake_square import TOKEN, FakeSquare, serve, square_order
from tools.errors import IdempotencyConflict, PermanentError, ToolUnavailable
from tools.idempotency import idempotency_key
from tools.pos.base import PosAdapter
from tools.pos.square import PROMO_ATTRIBUTE_KEY, SquarePos


@pytest.fixture
def fake() -> Iterator[tuple[FakeSquare, str]]:
    app = FakeSquare()
    with serve(app) as url:
        yield app, url


def _pos(url: str, **overrides: Any) -> SquarePos:
    options: dict[str, Any] = {"access_token": TOKEN, "base_url": url, "location_id": "LOC_1", "timeout_s": 2.0,
                               "retry_attempts": 4, "retry_base_delay_s": 0.01, "retry_max_delay_s": 0.05}
    options.update(overrides)
    return SquarePos(**options)


def _create(pos: SquarePos, key: str, *, pct: float | None = 15.0, cents: int | None = None) -> Callable[[], Any]:
    return lambda: pos.create_promo_code(idempotency_key=key, merchant_id="m1", offer_id="offer_1", customer_id=7,
                                         sku="SALMON-ENTREE", category=None, discount_pct=pct,
                                         discount_cents=cents, expires_at=datetime(2026, 3, 1, tzinfo=UTC))


CATALOG = "POST /v2/catalog/object"


def test_square_pos_satisfies_the_protocol(fake: tuple[FakeSquare, str]) -> None:
    assert isinstance(_pos(fake[1]), PosAdapter)


def test_reads_customer_and_order_through_the_sdk(fake: tuple[FakeSquare, str]) -> None:
    pos = _pos(fake[1])
    customer = pos.get_customer("CUST_1")
    assert customer is not None and customer.given_name == "Maria" and customer.email == "maria@example.com"
    order = pos.get_order("ORDER_1")
    assert order is not None and order.total_cents == 2613 and order.pos_customer_id == "CUST_1"  # with tax
    assert order.lines[0].sku == "VAR_SALMON" and order.lines[0].quantity == 2  # sku = catalog variation id
    assert order.lines[0].unit_price_cents == 1200
    assert order.occurred_at == datetime(2026, 1, 15, 14, 30, tzinfo=UTC)  # closed_at
    assert pos.get_customer("NOPE") is None and pos.get_order("NOPE") is None


def test_create_promo_code_retries_503_and_creates_exactly_one_discount(fake: tuple[FakeSquare, str]) -> None:
    app, url = fake
    app.fail_before[CATALOG] = 2
    key = idempotency_key("offer_1", "pos.create_promo_code")
    result = _create(_pos(url), key)()
    assert app.count(CATALOG) == 3
    assert len(app.discounts()) == 1
    created = app.discounts()[0]
    assert created["discount_data"] == {"name": result.code, "pin_required": False,
                                        "discount_type": "FIXED_PERCENTAGE", "percentage": "15.00"}
    assert result.pos_reference == created["id"]


def test_lost_response_is_retried_with_the_same_key_without_duplicating(fake: tuple[FakeSquare, str]) -> None:
    app, url = fake
    app.fail_after[CATALOG] = 1  # Square created the discount but we never saw the answer
    key = idempotency_key("offer_2", "pos.create_promo_code")
    pos = _pos(url)
    first = _create(pos, key, cents=500, pct=None)()
    assert app.count(CATALOG) == 2 and len(app.discounts()) == 1
    # a worker re-running the whole decision later gets the same code and the same Square object
    again = _create(pos, key, cents=500, pct=None)()
    assert (again.code, again.pos_reference) == (first.code, first.pos_reference)
    assert len(app.discounts()) == 1


def test_validation_errors_are_not_retried(fake: tuple[FakeSquare, str]) -> None:
    app, url = fake
    key = idempotency_key("offer_3", "pos.create_promo_code")
    _create(_pos(url), key)()
    with pytest.raises(PermanentError) as info:  # same key, different terms: Square refuses with 400
        _create(_pos(url), key, pct=20.0)()
    assert info.value.status_code == 400 and info.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert app.count(CATALOG) == 2  # one create + one refused attempt, no retries
    with pytest.raises(PermanentError) as auth:
        _pos(url, access_token="wrong").get_customer("CUST_1")
    assert auth.value.status_code == 401
    assert app.count("GET /v2/customers/{id}") == 1


def test_timeouts_are_retried(fake: tuple[FakeSquare, str]) -> None:
    app, url = fake
    app.stall["GET /v2/customers/{id}"] = (1, 1.5)
    customer = _pos(url, timeout_s=0.5).get_customer("CUST_1")
    assert customer is not None and app.count("GET /v2/customers/{id}") == 2


def test_unreachable_square_raises_tool_unavailable(fake: tuple[FakeSquare, str]) -> None:
    app, url = fake
    app.fail_before[CATALOG] = 99
    with pytest.raises(ToolUnavailable) as info:
        _create(_pos(url, retry_attempts=3), idempotency_key("offer_4", "pos.create_promo_code"))()
    assert info.value.attempts == 3 and app.count(CATALOG) == 3 and not app.discounts()
    with pytest.raises(ToolUnavailable):  # nothing listening at all
        _pos("http://127.0.0.1:9", retry_attempts=2).get_customer("CUST_1")


def test_attach_promo_sets_the_customer_attribute_idempotently(fake: tuple[FakeSquare, str]) -> None:
    app, url = fake
    pos = _pos(url)
    key = idempotency_key("offer_5", "pos.attach_promo_to_customer")
    app.fail_after["POST /v2/customers/{id}/custom-attributes/{id}"] = 1
    result = pos.attach_promo_to_customer(idempotency_key=key, code="HV-AAAA-BB", pos_customer_id="CUST_1")
    assert result.pos_reference == f"CUST_1/{PROMO_ATTRIBUTE_KEY}"
    assert app.custom_attributes[("CUST_1", PROMO_ATTRIBUTE_KEY)]["value"] == "HV-AAAA-BB"
    with pytest.raises(PermanentError):
        pos.attach_promo_to_customer(idempotency_key=idempotency_key("x", "y"), code="HV-AAAA-BB",
                                     pos_customer_id="GHOST")


def test_points_accrue_once_despite_lost_responses_and_redeem(fake: tuple[FakeSquare, str]) -> None:
    app, url = fake
    pos = _pos(url)
    app.fail_after["POST /v2/loyalty/accounts/{id}/accumulate"] = 2
    key = idempotency_key("offer_6", "pos.accrue_points")
    accrued = pos.accrue_points(idempotency_key=key, pos_customer_id="CUST_1", points=40, reason="bonus")
    assert accrued.balance == 140 and app.count("POST /v2/loyalty/accounts/{id}/accumulate") == 3
    assert pos.accrue_points(idempotency_key=key, pos_customer_id="CUST_1", points=40, reason="bonus").balance == 140
    assert len(app.loyalty_events) == 1
    redeemed = pos.redeem_points(idempotency_key=idempotency_key("offer_6", "pos.redeem_points"),
                                 pos_customer_id="CUST_1", points=90, reason="free dessert")
    assert redeemed.balance == 50 and redeemed.pos_reference == app.loyalty_events[-1]["id"]
    with pytest.raises(PermanentError) as info:
        pos.redeem_points(idempotency_key=idempotency_key("offer_7", "pos.redeem_points"),
                          pos_customer_id="CUST_1", points=500, reason="too much")
    assert info.value.code == "INSUFFICIENT_POINTS"
    with pytest.raises(PermanentError):
        _pos(url, location_id=None).accrue_points(idempotency_key="k", pos_customer_id="CUST_1", points=1,
                                                  reason="x")
    assert not isinstance(info.value, IdempotencyConflict)


def test_retrieve_order_and_customer_fail_permanently_when_square_does_not_know_them(
        fake: tuple[FakeSquare, str]) -> None:
    app, url = fake
    pos = _pos(url)
    assert pos.retrieve_order("ORDER_1").id == "ORDER_1"
    assert pos.retrieve_customer("CUST_1").given_name == "Maria"
    with pytest.raises(PermanentError) as order:
        pos.retrieve_order("GONE")
    assert order.value.status_code == 404 and "Order `GONE` not found" in str(order.value)
    with pytest.raises(PermanentError) as customer:
        pos.retrieve_customer("GONE")
    assert customer.value.status_code == 404
    assert app.count("GET /v2/orders/{id}") == 2  # a 404 is not retried


def test_retrieve_order_rides_out_a_short_outage_then_gives_up(fake: tuple[FakeSquare, str]) -> None:
    app, url = fake
    app.fail_before["GET /v2/orders/{id}"] = 1
    assert _pos(url, retry_attempts=2).retrieve_order("ORDER_1").state == "COMPLETED"
    app.fail_before["GET /v2/orders/{id}"] = 5
    with pytest.raises(ToolUnavailable) as info:
        _pos(url, retry_attempts=2).retrieve_order("ORDER_1")
    assert info.value.attempts == 2 and app.count("GET /v2/orders/{id}") == 4


def test_list_catalog_follows_every_cursor_and_retries_a_page(fake: tuple[FakeSquare, str]) -> None:
    app, url = fake
    app.page_size = 2
    app.add_category("CAT_MAINS", "Mains")
    for n in range(4):
        app.add_item(f"ITEM_{n}", f"Dish {n}", category_id="CAT_MAINS", variations=[(f"VAR_{n}", "Regular", 1000 + n)])
    app.fail_before["GET /v2/catalog/list"] = 1
    objects = list(_pos(url).list_catalog("ITEM,CATEGORY"))
    assert sorted(str(o.id) for o in objects) == ["CAT_MAINS", "ITEM_0", "ITEM_1", "ITEM_2", "ITEM_3"]
    assert app.count("GET /v2/catalog/list") == 4  # one 503, then three pages of two
    item = next(o for o in objects if o.id == "ITEM_0")
    assert item.type == "ITEM" and item.item_data is not None and item.item_data.variations is not None
    assert item.item_data.variations[0].id == "VAR_0"


def test_order_lines_keep_modifiers_and_split_odd_quantities(fake: tuple[FakeSquare, str]) -> None:
    app, url = fake
    order = square_order("ORDER_M", location_id="LOC_1", customer_id=None, closed_at=datetime(2026, 1, 2, tzinfo=UTC),
                         lines=[("VAR_BURGER", "Burger", 2, 1500), (None, "Corkage", 1, 2000)])
    order["line_items"][0]["gross_sales_money"]["amount"] = 3400  # two burgers with +2.00 bacon each
    order["line_items"].append({"uid": "gc", "name": "Gift card", "quantity": "1", "item_type": "GIFT_CARD",
                                "base_price_money": {"amount": 5000, "currency": "USD"},
                                "gross_sales_money": {"amount": 5000, "currency": "USD"}})
    order["line_items"].append({"uid": "w", "name": "Oysters by weight", "quantity": "1.5", "item_type": "ITEM",
                                "catalog_object_id": "VAR_OYSTER",
                                "base_price_money": {"amount": 2000, "currency": "USD"},
                                "gross_sales_money": {"amount": 3000, "currency": "USD"}})
    app.orders["ORDER_M"] = order
    lines = {line.sku: line for line in _pos(url).get_order("ORDER_M").lines}  # type: ignore[union-attr]
    assert (lines["VAR_BURGER"].quantity, lines["VAR_BURGER"].unit_price_cents) == (2, 1700)
    assert (lines["custom:corkage"].quantity, lines["custom:corkage"].unit_price_cents) == (1, 2000)
    assert (lines["VAR_OYSTER"].quantity, lines["VAR_OYSTER"].unit_price_cents) == (1, 3000)
    assert len(lines) == 3  # the gift card sale is not dining spend
