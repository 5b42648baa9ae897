"""A Square seller end to end: signed Square webhooks -> the real inbox, worker and offer graph, with the
official SDK fetching orders and customers from the faithful fake Square server (fake_square.py).

The payment and the order events of one purchase make one sale and one decision, in either order;
Square being down is ridden out by the inbox's backoff; an order Square does not know fails with
Square's reason.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from api.signatures import sign_square
from db.crud import create_api_key
from db.engine import make_engine, session_scope
from db.inbox import enqueue_event
from db.tables import (
    AuditEvent,
    CatalogItem,
    Customer,
    CustomerContact,
    InboxEvent,
    Offer,
    PosTransaction,
    TransactionLine,
)
from loyalty_agent import worker as worker_module
from sandbox.seed import seed_database
from tests.integration.conftest import ServerThread, add_minimal_merchant, make_settings
from tests.integration.fake_square import (
    TOKEN,
    FakeSquare,
    order_event,
    payment_event,
    serve,
    square_event,
    square_order,
)
from tools.pos.square_events import FETCH_ATTEMPTS

NOTIFICATION_URL = "https://loyalty.example.com/webhooks/square"
SIGNATURE_KEY = "sq-signature-key"
ORDER_ROUTE = "GET /v2/orders/{id}"


@dataclass
class SquareSeller:
    fake: FakeSquare
    url: str
    engine: Engine
    manager_key: str
    guest: str  # a seeded regular's POS id, also their Square customer id
    dishes: list[tuple[str, str, int]]  # (sku, name, price in cents) from the seeded catalog

    def post(self, event: dict[str, Any]) -> httpx.Response:
        body = json.dumps(event).encode()
        headers = {"content-type": "application/json",
                   "x-square-hmacsha256-signature": sign_square(SIGNATURE_KEY, NOTIFICATION_URL, body)}
        with httpx.Client(base_url=self.url, timeout=30) as client:
            return client.post("/webhooks/square", content=body, headers=headers)

    def wait(self, event_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while True:
                state = client.get(f"/events/{event_id}", headers={"authorization": f"Bearer {self.manager_key}"})
                assert state.status_code == 200, state.text
                if state.json()["status"] in ("done", "failed"):
                    return state.json()  # type: ignore[no-any-return]
                assert time.monotonic() < deadline, state.json()
                time.sleep(0.05)

    def order(self, order_id: str, **kw: Any) -> dict[str, Any]:
        """A completed order of two seeded dishes for the guest, closed a minute ago, known to Square."""
        options: dict[str, Any] = {"location_id": "loc_1", "customer_id": self.guest,
                                   "closed_at": datetime.now(UTC) - timedelta(minutes=1),
                                   "lines": [(sku, name, 1, price) for sku, name, price in self.dishes]}
        options.update(kw)
        order = square_order(order_id, **options)
        self.fake.orders[order_id] = order
        return order


@pytest.fixture
def seller(database_url: str, engine: Engine, tmp_path: Path) -> Iterator[SquareSeller]:
    from api.main import create_app
    from loyalty_agent.services import in_process

    seed_database(engine, customers=200, months=12, seed=17)
    with session_scope(engine) as s:
        _, manager = create_api_key(s, role="manager")
        guest = s.exec(select(Customer).where(col(Customer.consent_sms), col(Customer.tier) == "silver")
                       .order_by(col(Customer.id))).first()
        assert guest is not None
        guest.points = 1140  # 60 points short of gold: the offline drafter nudges with bonus points
        s.add(guest)
        dishes = [(i.sku, i.name, i.price_cents) for i in s.exec(
            select(CatalogItem).where(col(CatalogItem.category) == "mains").order_by(col(CatalogItem.sku)).limit(2))]
    fake = FakeSquare()
    fake.customers[guest.pos_customer_id] = {"id": guest.pos_customer_id, "given_name": "Regular",
                                             "created_at": "2025-01-02T10:00:00Z"}
    fake.accounts["LA_GUEST"] = {"id": "LA_GUEST", "program_id": "PROG_1", "customer_id": guest.pos_customer_id,
                                 "balance": 0, "lifetime_points": 0}
    with serve(fake) as square_url:
        settings = make_settings(
            database_url, tmp_path, index_on_start=False, square_webhook_signature_key=SIGNATURE_KEY,
            square_webhook_url=NOTIFICATION_URL, square_access_token=TOKEN, square_base_url=square_url,
            pos_provider="square", square_location_id="loc_1")
        with ServerThread(create_app(settings, background=in_process(workers=1))) as server:
            yield SquareSeller(fake, server.url, engine, manager, guest.pos_customer_id, dishes)


def _sales(engine: Engine, order_id: str) -> list[PosTransaction]:
    with Session(engine) as s:
        return list(s.exec(select(PosTransaction).where(col(PosTransaction.pos_transaction_id) == order_id)))


def _graph_runs(engine: Engine, event_id: str) -> int:
    """How many times the offer graph loaded a sale for this event (its first node audits once per run)."""
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(AuditEvent).where(
            col(AuditEvent.correlation_id) == event_id, col(AuditEvent.node) == "load_transaction")).one())


def _offers(engine: Engine, event_id: str) -> list[Offer]:
    with Session(engine) as s:
        return list(s.exec(select(Offer).where(col(Offer.event_id) == event_id)))


DECIDED = {"sent", "pending_review", "blocked", "no_offer"}


def test_payment_then_order_event_of_one_purchase_is_one_sale_and_one_decision(seller: SquareSeller) -> None:
    order = seller.order("ORD_E2E_1", discounts=[("Happy hour", 300)], tip=500)
    first = seller.post(payment_event("payment.updated", "sq_evt_pay_1", order))
    assert first.status_code == 202, first.text
    paid = seller.wait(first.json()["event_id"])
    assert (paid["status"], paid["outcome"]) == ("done", "sent"), paid
    assert seller.fake.count(ORDER_ROUTE) == 1  # the order was fetched through the SDK

    [sale] = _sales(seller.engine, "ORD_E2E_1")
    assert sale.source_event_id == paid["event_id"] and sale.location_id == "loc_1"
    assert sale.occurred_at == datetime.fromisoformat(order["closed_at"].replace("Z", "+00:00"))
    subtotal = sum(price for _sku, _name, price in seller.dishes)
    assert sale.total_cents == subtotal - 300  # menu spend: no tax, no tip
    with Session(seller.engine) as s:
        guest = s.exec(select(Customer).where(col(Customer.pos_customer_id) == seller.guest)).one()
        assert sale.customer_id == guest.id
        lines = s.exec(select(TransactionLine).where(col(TransactionLine.transaction_id) == sale.id)).all()
    assert sorted((li.sku, li.unit_price_cents) for li in lines) == sorted((d[0], d[2]) for d in seller.dishes)
    assert _graph_runs(seller.engine, paid["event_id"]) == 1

    # Square's redelivery of the same notification is a duplicate at the door.
    again = seller.post(payment_event("payment.updated", "sq_evt_pay_1", order))
    assert again.status_code == 200 and again.json()["status"] == "duplicate"

    # The order's own event for the same purchase: fetched, recognised, not decided again.
    second = seller.post(order_event("order.updated", "sq_evt_ord_1", order))
    assert second.status_code == 202, second.text
    closed = seller.wait(second.json()["event_id"])
    assert closed["status"] == "done" and closed["outcome"] == "duplicate_sale", closed
    assert len(_sales(seller.engine, "ORD_E2E_1")) == 1
    assert _graph_runs(seller.engine, closed["event_id"]) == 0 and not _offers(seller.engine, closed["event_id"])
    assert _graph_runs(seller.engine, paid["event_id"]) == 1

    # The offer's bonus points went to the guest's Square loyalty account once, under Square's idempotency.
    [offer] = _offers(seller.engine, paid["event_id"])
    assert offer.status == "sent" and offer.offer_type == "bonus_points"
    assert [e["accumulate_points"]["points"] for e in seller.fake.loyalty_events] == [offer.bonus_points]


def test_order_event_first_then_payment_event_is_still_one_decision(seller: SquareSeller) -> None:
    order = seller.order("ORD_E2E_2")
    first = seller.wait(seller.post(order_event("order.updated", "sq_evt_ord_2", order)).json()["event_id"])
    assert first["status"] == "done" and first["outcome"] in DECIDED, first
    second = seller.wait(seller.post(payment_event("payment.created", "sq_evt_pay_2", order)).json()["event_id"])
    assert second["status"] == "done" and second["outcome"] == "duplicate_sale", second
    [sale] = _sales(seller.engine, "ORD_E2E_2")
    assert sale.source_event_id == first["event_id"]
    assert (_graph_runs(seller.engine, first["event_id"]), _graph_runs(seller.engine, second["event_id"])) == (1, 0)


def test_square_outage_is_retried_by_the_inbox_and_the_sale_completed_once(seller: SquareSeller) -> None:
    order = seller.order("ORD_E2E_3")
    seller.fake.fail_before[ORDER_ROUTE] = FETCH_ATTEMPTS  # the whole first attempt meets 503s
    state = seller.wait(seller.post(payment_event("payment.updated", "sq_evt_pay_3", order)).json()["event_id"])
    assert state["status"] == "done" and state["outcome"] in DECIDED, state
    # Square being down says nothing about the event: the inbox requeues it with the attempt given back
    # (db.inbox.fail_event, infrastructure=True), so the one attempt that counts is the one that succeeded.
    assert state["attempts"] == 1 and state["last_error"] is None
    assert seller.fake.count(ORDER_ROUTE) == FETCH_ATTEMPTS + 1  # retried once after the outage
    assert len(_sales(seller.engine, "ORD_E2E_3")) == 1
    assert _graph_runs(seller.engine, state["event_id"]) == 1


def test_events_that_are_not_completed_sales(seller: SquareSeller) -> None:
    # An order Square does not know: failed at once, with Square's reason, nothing recorded.
    ghost = square_order("ORD_GHOST", location_id="loc_1", customer_id=seller.guest,
                         closed_at=datetime.now(UTC), lines=[(seller.dishes[0][0], "x", 1, 100)])
    failed = seller.wait(seller.post(payment_event("payment.updated", "sq_evt_ghost", ghost)).json()["event_id"])
    assert failed["status"] == "failed" and failed["attempts"] == 1
    assert "404" in failed["last_error"] and "ORD_GHOST" in failed["last_error"]
    assert not _sales(seller.engine, "ORD_GHOST")
    # A payment that is only approved, and an order still open: acknowledged, nothing fetched.
    fetched = seller.fake.count(ORDER_ROUTE)
    open_order = seller.order("ORD_OPEN", state="OPEN")
    for event in (payment_event("payment.created", "sq_evt_appr", open_order, status="APPROVED"),
                  order_event("order.updated", "sq_evt_open", open_order)):
        state = seller.wait(seller.post(event).json()["event_id"])
        assert (state["status"], state["outcome"]) == ("done", "ignored")
    assert seller.fake.count(ORDER_ROUTE) == fetched and not _sales(seller.engine, "ORD_OPEN")


def test_customer_event_with_only_an_id_fetches_the_customer(seller: SquareSeller) -> None:
    seller.fake.customers["SQ_NEW"] = {"id": "SQ_NEW", "given_name": "Priya", "family_name": "Raman",
                                       "email_address": "priya@example.com", "birthday": "1988-03-02",
                                       "preferences": {"email_unsubscribed": False}}
    event = square_event("customer.created", "sq_evt_cust", object_type="customer", object_id="SQ_NEW", obj={})
    state = seller.wait(seller.post(event).json()["event_id"])
    assert (state["status"], state["outcome"]) == ("done", "profile_updated"), state
    assert seller.fake.count("GET /v2/customers/{id}") == 1
    with Session(seller.engine) as s:
        customer = s.exec(select(Customer).where(col(Customer.pos_customer_id) == "SQ_NEW")).one()
        contact = s.get(CustomerContact, customer.id)
    assert customer.birthday is not None and customer.birthday.isoformat() == "1988-03-02" and customer.consent_email
    assert contact is not None and (contact.given_name, contact.email) == ("Priya", "priya@example.com")


def test_payment_and_order_events_racing_on_two_postgres_workers_make_one_sale(
        postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both events fetched and recorded at the same moment by two workers: one insert wins, the other
    meets the unique sale key, is retried by the inbox and ends `duplicate_sale`; one decision."""
    engine = make_engine(postgres_url)
    add_minimal_merchant(engine)
    fake = FakeSquare()
    order = square_order("ORD_RACE", location_id="loc_1", customer_id="cust_race", closed_at=datetime.now(UTC),
                         lines=[("VAR_SALMON", "Grilled Salmon", 1, 2400)])
    fake.orders["ORD_RACE"] = order
    together = threading.Barrier(2, timeout=10)
    real_record_sale = worker_module.record_sale
    first_two = iter(range(2))

    def record_sale_together(*args: Any, **kwargs: Any) -> Any:
        if next(first_two, None) is not None:
            together.wait()  # both workers insert the same sale at once
        return real_record_sale(*args, **kwargs)

    monkeypatch.setattr(worker_module, "record_sale", record_sale_together)
    decided: list[str] = []
    with serve(fake) as square_url:
        settings = make_settings(postgres_url, tmp_path, square_access_token=TOKEN, square_base_url=square_url)
        with session_scope(engine) as s:
            for event in (payment_event("payment.updated", "sq_race_pay", order),
                          order_event("order.updated", "sq_race_ord", order)):
                enqueue_event(s, provider="square", provider_event_id=event["event_id"], event_type=event["type"],
                              payload=event, merchant_id="m_sandbox")

        def decide(event: InboxEvent, _recorded: Any) -> str:
            decided.append(event.id)
            return "no_offer"

        def run(n: int) -> None:
            w = worker_module.Worker(engine, settings, worker_id=f"w{n}", batch_size=1, offer_runner=decide)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                w.run_once()
                with Session(engine) as s:
                    if all(r.status in ("done", "failed") for r in s.exec(select(InboxEvent))):
                        return
                time.sleep(0.02)

        threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    with Session(engine) as s:
        rows = {r.provider_event_id: r for r in s.exec(select(InboxEvent))}
    outcomes = sorted(r.outcome or "" for r in rows.values())
    assert all(r.status == "done" for r in rows.values()) and outcomes == ["duplicate_sale", "no_offer"], rows
    loser = next(r for r in rows.values() if r.outcome == "duplicate_sale")
    assert loser.attempts == 2  # its first insert met the winner's unique key; the inbox retried it
    assert len(_sales(engine, "ORD_RACE")) == 1 and len(decided) == 1
    engine.dispose()


def test_our_promo_code_applied_at_the_square_register_is_redeemed_once(seller: SquareSeller) -> None:
    """Our codes are Square catalog discounts named after the code: the order's discount comes back by name."""
    from db.tables import PromoCode

    with session_scope(seller.engine) as s:
        s.add(PromoCode(idempotency_key="idk_square_redeem", code="HV-SQRE-7K", merchant_id="m_sandbox",
                        discount_cents=500))
    order = seller.order("ORD_E2E_PROMO", discounts=[("HV-SQRE-7K", 500), ("Staff meal", 200)])
    paid = seller.wait(seller.post(payment_event("payment.updated", "sq_evt_pay_promo", order)).json()["event_id"])
    assert paid["status"] == "done", paid
    closed = seller.wait(seller.post(order_event("order.updated", "sq_evt_ord_promo", order)).json()["event_id"])
    assert closed["outcome"] == "duplicate_sale"
    [sale] = _sales(seller.engine, "ORD_E2E_PROMO")
    assert sale.total_cents == sum(price for _sku, _name, price in seller.dishes) - 700
    with Session(seller.engine) as s:
        promo = s.exec(select(PromoCode).where(col(PromoCode.code) == "HV-SQRE-7K")).one()
    assert promo.redeemed_at == sale.occurred_at
