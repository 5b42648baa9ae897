"""Signed sales that cannot be true are refused at the door (422, nothing stored); codes used are redeemed once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, select

from db.engine import session_scope
from db.inbox import enqueue_event
from db.tables import Customer, InboxEvent, Merchant, PosTransaction, PromoCode, TransactionLine
from tests.integration.conftest import Live
from tests.integration.test_spine_webhooks import count, post, sale, wait_done


def nothing_stored(live: Live) -> None:
    for table in (InboxEvent, PosTransaction, TransactionLine, Customer):
        assert count(live, table) == 0, table.__name__


def test_poisoned_sale_is_422_with_every_reason_and_nothing_is_stored(live: Live) -> None:
    """The report's sale: total 99,999,999 cents, lines $3.50, in EUR, dated 2099."""
    poisoned = sale(line_items=[{"sku": "COFFEE", "name": "Coffee", "quantity": 1, "price": 3.50}],
                    total_money={"amount": 99_999_999, "currency": "EUR"})
    poisoned["created_at"] = "2099-01-01T00:00:00Z"
    with live.client() as c:
        r = post(c, poisoned)
    assert r.status_code == 422, r.text
    problems = {".".join(map(str, p["loc"])): p["msg"] for p in r.json()["detail"]}
    assert set(problems) == {"data.total_money.currency", "created_at", "data.total_money.amount"}
    assert "lines 350 minus discounts 0 is 350" in problems["data.total_money.amount"]
    nothing_stored(live)


def test_each_check_alone_refuses(live: Live) -> None:
    soon = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
    late = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    with live.client() as c:
        assert post(c, sale(total_money={"amount": 2400 + 240, "currency": "USD"})).status_code == 422
        assert post(c, sale(total_money={"amount": 2400, "currency": "EUR"})).status_code == 422
        assert post(c, {**sale(), "created_at": late}).status_code == 422
        assert post(c, sale(discounts=[{"code": "X", "amount": {"amount": 100, "currency": "USD"}}])).status_code == 422
        nothing_stored(live)
        # Within the tolerances: a cent off, a POS clock two minutes fast.
        assert post(c, {**sale(total_money={"amount": 2401, "currency": "USD"}), "created_at": soon}).status_code == 202


def test_sale_in_the_merchants_own_currency(live: Live) -> None:
    with session_scope(live.engine) as s:
        s.execute(update(Merchant).values(currency="EUR"))
    with live.client() as c:
        r = post(c, sale())
        assert r.status_code == 422 and "USD is not the merchant's currency (EUR)" in r.text
        assert post(c, sale(total_money={"amount": 2400, "currency": "EUR"})).status_code == 202


def test_promo_code_used_at_the_till_is_redeemed_once(live: Live) -> None:
    with session_scope(live.engine) as s:
        s.add(PromoCode(idempotency_key="k1", code="HV-XD8X-NP", merchant_id="m_sandbox", discount_cents=179))
    used = [{"code": "HV-XD8X-NP", "amount": {"amount": 179, "currency": "USD"}},
            {"code": "HAPPY-HOUR", "amount": {"amount": 100, "currency": "USD"}}]  # the POS's own: ignored
    first = sale(event_id="evt_a", txn="txn_a", discounts=used, total_money={"amount": 2400 - 279, "currency": "USD"})
    first["created_at"] = "2026-11-01T18:00:00Z"
    again = sale(event_id="evt_b", txn="txn_b", discounts=used, total_money={"amount": 2400 - 279, "currency": "USD"})
    with live.client() as c:
        for event in (first, again):
            r = post(c, event)
            assert r.status_code == 202, r.text
            assert wait_done(live, r.json()["event_id"])["status"] == "done"
    with Session(live.engine) as s:
        code = s.exec(select(PromoCode)).one()
        assert code.redeemed_at == datetime(2026, 11, 1, 18, 0, tzinfo=UTC)


def test_worker_refuses_a_sale_that_skipped_the_door(live: Live) -> None:
    """An inbox row that never passed the webhook's checks (e.g. from before they existed) records nothing."""
    bad: dict[str, Any] = sale(event_id="evt_old", total_money={"amount": 99_999_999, "currency": "USD"})
    with session_scope(live.engine) as s:
        event_id = enqueue_event(s, provider="pos", provider_event_id="evt_old", event_type="sale.completed",
                                 payload=bad, merchant_id="m_sandbox").event_id
    state = wait_done(live, event_id)
    assert state["status"] == "failed" and "does not reconcile" in state["last_error"], state
    for table in (PosTransaction, TransactionLine, Customer):
        assert count(live, table) == 0
