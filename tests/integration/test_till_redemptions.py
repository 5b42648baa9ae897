"""Codes presented at the till: ours redeemed once, repeats, expired and foreign codes recorded as such."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.events import SaleChecks, SaleCompleted
from db.engine import session_scope
from db.ingest import record_sale
from db.redemptions import ALREADY_REDEEMED, EXPIRED, FOREIGN, REDEEMED
from db.tables import Location, Merchant, PromoCode, PromoRedemption

AT = datetime(2026, 11, 1, 18, 0, tzinfo=UTC)


def _merchant(engine: Engine) -> None:
    with session_scope(engine) as s:
        s.add(Merchant(id="m_sandbox", name="Test Bistro"))
        s.flush()
        s.add(Location(id="loc_1", merchant_id="m_sandbox", name="Main"))
        s.add(PromoCode(idempotency_key="k1", code="HV-GOOD", merchant_id="m_sandbox", discount_cents=200,
                        expires_at=AT + timedelta(days=7)))
        s.add(PromoCode(idempotency_key="k2", code="HV-OLD", merchant_id="m_sandbox", discount_cents=200,
                        expires_at=AT - timedelta(days=1)))


def _sale(txn: str, codes: list[str], at: datetime = AT) -> SaleCompleted:
    discounts = [{"code": c, "amount": {"amount": 200, "currency": "USD"}} for c in codes]
    return SaleCompleted.model_validate({
        "event": "sale.completed", "event_id": f"evt_{txn}", "created_at": at.isoformat(),
        "data": {"id": txn, "location_id": "loc_1", "customer_id": "cust_1",
                 "line_items": [{"sku": "SALMON", "name": "Grilled Salmon", "quantity": 1, "price": 24.00}],
                 "discounts": discounts, "total_money": {"amount": 2400 - 200 * len(codes), "currency": "USD"}},
    })


def _record(engine: Engine, sale: SaleCompleted) -> None:
    with session_scope(engine) as s:
        record_sale(s, sale=sale, event_id=sale.event_id, pseudonym_secret="p", checks=SaleChecks())


def test_each_code_of_each_sale_is_recorded_once_with_what_it_came_to(engine: Engine) -> None:
    _merchant(engine)
    _record(engine, _sale("t1", ["HV-GOOD", "HAPPY-HOUR"]))
    _record(engine, _sale("t1", ["HV-GOOD", "HAPPY-HOUR"]))  # the same sale again: nothing new
    _record(engine, _sale("t2", ["HV-GOOD"], at=AT + timedelta(days=1)))  # a second use of the code
    _record(engine, _sale("t3", ["HV-OLD"]))
    with Session(engine) as s:
        rows = s.exec(select(PromoRedemption).order_by(col(PromoRedemption.id))).all()
        codes = {c.code: c for c in s.exec(select(PromoCode)).all()}
    assert [(r.code, r.outcome) for r in rows] == [
        ("HAPPY-HOUR", FOREIGN), ("HV-GOOD", REDEEMED), ("HV-GOOD", ALREADY_REDEEMED), ("HV-OLD", EXPIRED),
    ]
    assert rows[1].promo_code_id == codes["HV-GOOD"].id and rows[0].promo_code_id is None
    assert all(r.amount_cents == 200 and r.customer_id is not None for r in rows)
    assert codes["HV-GOOD"].redeemed_at == AT  # the first sale's time, once
    assert codes["HV-OLD"].redeemed_at is None  # an expired code is not redeemed
