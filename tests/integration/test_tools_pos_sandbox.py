"""Sandbox POS on real engines (SQLite file; PostgreSQL when TEST_DATABASE_URL is set): idempotency
under repeated and concurrent calls, points arithmetic, and the audit trail."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, func, select

from db.engine import session_scope
from db.tables import (
    AuditEvent,
    Customer,
    CustomerContact,
    Location,
    LoyaltyLedger,
    Merchant,
    PosTransaction,
    PromoCode,
    TransactionLine,
)
from tools.errors import IdempotencyConflict, InsufficientPoints, PermanentError, ToolUnavailable
from tools.idempotency import idempotency_key
from tools.pos.audited import AuditedPos
from tools.pos.base import PosAdapter, PromoCodeResult
from tools.pos.sandbox import SandboxPos

EXPIRES = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    """`engine` is the shared migrated-database fixture of tests/conftest.py (SQLite, then PostgreSQL)."""
    with session_scope(engine) as s:
        s.add(Merchant(id="m1", name="Harbour View"))
        s.flush()  # no ORM relationships: flush parents before children
        s.add(Location(id="loc_1", merchant_id="m1", name="Main"))
        s.flush()
        maria = Customer(merchant_id="m1", pos_customer_id="cust_456", pseudonym="guest-a1", points=100,
                         consent_sms=True)
        other = Customer(merchant_id="m1", pos_customer_id="cust_789", pseudonym="guest-b2")
        s.add(maria)
        s.add(other)
        s.flush()
        assert maria.id is not None
        s.add(CustomerContact(customer_id=maria.id, given_name="Maria", family_name="Gonzalez",
                              email="maria@example.com", phone="+14155550199"))
        txn = PosTransaction(merchant_id="m1", location_id="loc_1", pos_transaction_id="txn_abc123",
                             customer_id=maria.id, occurred_at=datetime(2026, 1, 15, 14, 30, tzinfo=UTC),
                             total_cents=2400)
        s.add(txn)
        s.flush()
        assert txn.id is not None
        s.add(TransactionLine(transaction_id=txn.id, sku="SALMON-ENTREE", name="Grilled Salmon",
                              unit_price_cents=2400))
    return engine


def _customer_pk(engine: Engine, pos_id: str) -> int:
    with Session(engine) as s:
        pk = s.exec(select(Customer.id).where(Customer.pos_customer_id == pos_id)).one()
        assert pk is not None
        return pk


def _create(pos: PosAdapter, key: str, customer_id: int | None, pct: float = 15.0) -> PromoCodeResult:
    return pos.create_promo_code(idempotency_key=key, merchant_id="m1", offer_id=None, customer_id=customer_id,
                                 sku="SALMON-ENTREE", category=None, discount_pct=pct, discount_cents=None,
                                 expires_at=EXPIRES)


def _count(engine: Engine, model: type[SQLModel]) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def test_sandbox_satisfies_the_protocol(seeded: Engine) -> None:
    assert isinstance(SandboxPos(seeded), PosAdapter)


def test_reads_order_and_customer(seeded: Engine) -> None:
    pos = SandboxPos(seeded, merchant_id="m1")
    order = pos.get_order("txn_abc123")
    assert order is not None and order.pos_customer_id == "cust_456" and order.total_cents == 2400
    assert [(ln.sku, ln.quantity) for ln in order.lines] == [("SALMON-ENTREE", 1)]
    customer = pos.get_customer("cust_456")
    assert customer is not None and customer.given_name == "Maria" and customer.points == 100
    assert pos.get_order("nope") is None and pos.get_customer("nope") is None


def test_create_promo_code_is_idempotent_on_repeat(seeded: Engine) -> None:
    pos = SandboxPos(seeded)
    key = idempotency_key("offer_1", "pos.create_promo_code")
    cid = _customer_pk(seeded, "cust_456")
    first = _create(pos, key, cid)
    second = _create(pos, key, cid)
    assert first.code == second.code and not first.replayed and second.replayed
    assert first.code.startswith("HV-")
    assert _count(seeded, PromoCode) == 1
    # a different decision gets a different code
    assert _create(pos, idempotency_key("offer_2", "pos.create_promo_code"), cid).code != first.code
    # the same key with other terms is a bug upstream, refused rather than silently merged
    with pytest.raises(IdempotencyConflict):
        _create(pos, key, cid, pct=50.0)


def test_create_promo_code_is_idempotent_under_concurrency(seeded: Engine) -> None:
    pos = SandboxPos(seeded)
    key = idempotency_key("offer_c", "pos.create_promo_code")
    cid = _customer_pk(seeded, "cust_456")
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _i: _create(pos, key, cid), range(16)))
    assert len({r.code for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert _count(seeded, PromoCode) == 1


def test_attach_is_idempotent_and_refuses_a_second_customer(seeded: Engine) -> None:
    pos = SandboxPos(seeded)
    result = _create(pos, idempotency_key("offer_a", "pos.create_promo_code"), None)
    attach_key = idempotency_key("offer_a", "pos.attach_promo_to_customer")
    first = pos.attach_promo_to_customer(idempotency_key=attach_key, code=result.code, pos_customer_id="cust_456")
    again = pos.attach_promo_to_customer(idempotency_key=attach_key, code=result.code, pos_customer_id="cust_456")
    assert not first.replayed and again.replayed
    with Session(seeded) as s:
        promo = s.exec(select(PromoCode).where(PromoCode.code == result.code)).one()
        assert promo.customer_id == _customer_pk(seeded, "cust_456") and promo.attached_at is not None
    with pytest.raises(IdempotencyConflict):
        pos.attach_promo_to_customer(idempotency_key=attach_key, code=result.code, pos_customer_id="cust_789")
    with pytest.raises(PermanentError):
        pos.attach_promo_to_customer(idempotency_key=attach_key, code="HV-NOPE-00", pos_customer_id="cust_456")
    # re-running create after attach (a crashed worker retrying the decision) still replays cleanly
    assert _create(pos, idempotency_key("offer_a", "pos.create_promo_code"), None).replayed


def test_points_accrue_once_per_key_even_concurrently(seeded: Engine) -> None:
    pos = SandboxPos(seeded, merchant_id="m1")
    key = idempotency_key("offer_p", "pos.accrue_points")

    def accrue(_i: int) -> int:
        return pos.accrue_points(idempotency_key=key, pos_customer_id="cust_456", points=50, reason="bonus",
                                 transaction_id="txn_abc123", offer_id="offer_p").balance

    with ThreadPoolExecutor(max_workers=8) as pool:
        balances = list(pool.map(accrue, range(16)))
    assert set(balances) == {150}
    assert _count(seeded, LoyaltyLedger) == 1
    with Session(seeded) as s:
        assert s.get(Customer, _customer_pk(seeded, "cust_456")).points == 150  # type: ignore[union-attr]
    with pytest.raises(IdempotencyConflict):
        pos.accrue_points(idempotency_key=key, pos_customer_id="cust_456", points=60, reason="bonus")


def test_redeem_checks_balance_and_leaves_nothing_half_written(seeded: Engine) -> None:
    pos = SandboxPos(seeded)
    spent = pos.redeem_points(idempotency_key=idempotency_key("r1", "pos.redeem_points"),
                              pos_customer_id="cust_456", points=80, reason="free dessert")
    assert spent.balance == 20
    with pytest.raises(InsufficientPoints):
        pos.redeem_points(idempotency_key=idempotency_key("r2", "pos.redeem_points"),
                          pos_customer_id="cust_456", points=21, reason="too much")
    assert _count(seeded, LoyaltyLedger) == 1  # the refused redemption wrote no ledger row
    with pytest.raises(PermanentError):
        pos.accrue_points(idempotency_key="k", pos_customer_id="cust_456", points=0, reason="zero")
    with pytest.raises(PermanentError):
        pos.accrue_points(idempotency_key="k", pos_customer_id="ghost", points=5, reason="unknown")


class _DownPos(SandboxPos):
    def create_promo_code(self, **kwargs: object) -> PromoCodeResult:  # type: ignore[override]
        raise ToolUnavailable("pos.test", attempts=3, last_error=ConnectionError("refused"))


def test_audited_pos_records_each_call_without_contact_pii(seeded: Engine) -> None:
    pos = AuditedPos(SandboxPos(seeded), seeded, correlation_id="evt_42", offer_id=None)
    key = idempotency_key("offer_z", "pos.create_promo_code")
    result = _create(pos, key, None)
    _create(pos, key, None)
    pos.get_customer("cust_456")
    pos.accrue_points(idempotency_key=idempotency_key("offer_z", "pos.accrue_points"),
                      pos_customer_id="cust_456", points=10, reason="bonus")
    down = AuditedPos(_DownPos(seeded), seeded, correlation_id="evt_42")
    with pytest.raises(ToolUnavailable):
        _create(down, idempotency_key("offer_y", "pos.create_promo_code"), None)
    with Session(seeded) as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.correlation_id == "evt_42")
                        .order_by(AuditEvent.id)).all()  # type: ignore[arg-type]
    assert [e.node for e in events] == ["tool:create_promo_code", "tool:create_promo_code", "tool:get_customer",
                                        "tool:accrue_points", "tool:create_promo_code"]
    assert events[0].outputs["code"] == result.code and events[0].outputs["replayed"] is False
    assert events[1].outputs["replayed"] is True
    assert events[3].outputs["balance"] == 110
    assert events[4].outputs["status"] == "unavailable" and events[4].outputs["attempts"] == 3
    assert all(e.inputs_digest and e.inputs_digest.startswith("sha256:") for e in events)
    dumped = " ".join(str(e.outputs) for e in events)
    for pii in ("Maria", "Gonzalez", "maria@example.com", "+14155550199"):
        assert pii not in dumped
    assert _count(seeded, PromoCode) == 1
