"""In-process POS backed by our own database: what `make run` uses.

Idempotency comes from the unique `idempotency_key` columns of promo_code and loyalty_ledger:
each effect is one INSERT that either wins or hits the constraint, in which case the first
call's row is read back. That holds under concurrency too (threads, processes, several
workers on Postgres), because the database, not a Python lock, decides who was first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row, bindparam, insert, update
from sqlalchemy import select as select_columns
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from db.tables import Customer, CustomerContact, LoyaltyLedger, PosTransaction, PromoCode, TransactionLine
from db.types import utcnow
from tools.errors import IdempotencyConflict, InsufficientPoints, PermanentError
from tools.pos.base import (
    AttachResult,
    PointsResult,
    PosCustomer,
    PosOrder,
    PosOrderLine,
    PromoCodeResult,
    promo_code_for,
    validate_discount,
    validate_points,
)

T = TypeVar("T")

# Candidate codes tried per key before giving up; each collision needs a 1-in-729M coincidence.
_MAX_CODE_CANDIDATES = 8

# The promo terms a replay must match (customer_id too: `_replayed_promo` leaves it out of the comparison).
_PROMO_TERMS = ("merchant_id", "offer_id", "customer_id", "sku", "category", "discount_pct", "discount_cents")

# Statements built once, run on a plain connection: the promo calls need a few columns, not ORM rows.
_PROMO_BY_KEY = select_columns(
    col(PromoCode.idempotency_key), col(PromoCode.code), col(PromoCode.pos_reference),
    *(col(getattr(PromoCode, name)) for name in _PROMO_TERMS),
).where(col(PromoCode.idempotency_key) == bindparam("key"))
_PROMO_FOR_ATTACH = select_columns(
    col(PromoCode.id), col(PromoCode.customer_id), col(PromoCode.attached_at), col(PromoCode.pos_reference)
).where(col(PromoCode.code) == bindparam("code"))
_INSERT_PROMO = insert(PromoCode)
_LEDGER_BY_KEY = select_columns(
    col(LoyaltyLedger.id), col(LoyaltyLedger.customer_id), col(LoyaltyLedger.delta)
).where(col(LoyaltyLedger.idempotency_key) == bindparam("key"))
_CUSTOMER_POINTS = select_columns(col(Customer.pos_customer_id), col(Customer.points)).where(
    col(Customer.id) == bindparam("customer_id")
)
_INSERT_LEDGER = insert(LoyaltyLedger).returning(col(LoyaltyLedger.id))
# The balance moves only while it stays >= 0; RETURNING gives the new balance (no row: not enough points).
_MOVE_POINTS = (
    update(Customer)
    .where(col(Customer.id) == bindparam("customer_id"), col(Customer.points) + bindparam("delta") >= 0)
    .values(points=col(Customer.points) + bindparam("delta"), updated_at=bindparam("moved_at"))
    .returning(col(Customer.points))
)
_ATTACH_PROMO = (
    update(PromoCode)
    .where(col(PromoCode.id) == bindparam("promo_id"), col(PromoCode.attached_at).is_(None))
    .values(attached_at=bindparam("attached_at"), customer_id=bindparam("attach_to"))
)


class SandboxPos:
    """POS adapter over the database tables. `merchant_id` scopes POS ids when several merchants share
    a database; without it a POS id must be unambiguous."""

    name = "sandbox"

    def __init__(self, engine: Engine, *, merchant_id: str | None = None, code_prefix: str = "HV") -> None:
        self._engine = engine
        self._merchant_id = merchant_id
        self._code_prefix = code_prefix
        customer_by_pos_id = select_columns(col(Customer.id), col(Customer.merchant_id)).where(
            col(Customer.pos_customer_id) == bindparam("pos_customer_id")
        )
        if merchant_id is not None:
            customer_by_pos_id = customer_by_pos_id.where(col(Customer.merchant_id) == merchant_id)
        self._customer_by_pos_id = customer_by_pos_id

    # -- reads -------------------------------------------------------------------------------

    def get_order(self, pos_transaction_id: str) -> PosOrder | None:
        with Session(self._engine) as session:
            stmt = select(PosTransaction).where(PosTransaction.pos_transaction_id == pos_transaction_id)
            if self._merchant_id is not None:
                stmt = stmt.where(PosTransaction.merchant_id == self._merchant_id)
            txn = _one_or_none(session.exec(stmt).all(), what=f"transaction {pos_transaction_id!r}")
            if txn is None:
                return None
            lines = session.exec(
                select(TransactionLine).where(TransactionLine.transaction_id == txn.id).order_by(
                    col(TransactionLine.id)
                )
            ).all()
            pos_customer_id = None
            if txn.customer_id is not None:
                customer = session.get(Customer, txn.customer_id)
                pos_customer_id = customer.pos_customer_id if customer else None
            return PosOrder(
                pos_transaction_id=txn.pos_transaction_id,
                location_id=txn.location_id,
                pos_customer_id=pos_customer_id,
                occurred_at=txn.occurred_at,
                total_cents=txn.total_cents,
                currency=txn.currency,
                lines=[
                    PosOrderLine(sku=ln.sku, name=ln.name, quantity=ln.quantity, unit_price_cents=ln.unit_price_cents)
                    for ln in lines
                ],
            )

    def get_customer(self, pos_customer_id: str) -> PosCustomer | None:
        with Session(self._engine) as session:
            customer = self._find_customer(session, pos_customer_id)
            if customer is None:
                return None
            contact = session.get(CustomerContact, customer.id)
            return PosCustomer(
                pos_customer_id=customer.pos_customer_id,
                given_name=contact.given_name if contact else None,
                family_name=contact.family_name if contact else None,
                email=contact.email if contact else None,
                phone=contact.phone if contact else None,
                points=customer.points,
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
        validate_discount(discount_pct=discount_pct, discount_cents=discount_cents, expires_at=expires_at)
        terms: dict[str, Any] = {
            "merchant_id": merchant_id,
            "offer_id": offer_id,
            "customer_id": customer_id,
            "sku": sku,
            "category": category,
            "discount_pct": discount_pct,
            "discount_cents": discount_cents,
        }
        existing = self._promo_by_key(idempotency_key)
        if existing is not None:
            return _replayed_promo(existing, terms)
        for salt in range(_MAX_CODE_CANDIDATES):
            code = promo_code_for(idempotency_key, prefix=self._code_prefix, salt=salt)
            pos_reference = f"sandbox:promo:{code}"
            try:
                with self._engine.begin() as conn:  # one INSERT, its own transaction
                    conn.execute(_INSERT_PROMO, {"idempotency_key": idempotency_key, "code": code,
                                                 "expires_at": expires_at, "pos_reference": pos_reference,
                                                 "created_at": utcnow(), **terms})
            except IntegrityError:
                # Either a concurrent call with our key won (read its row back) or, very rarely,
                # another key already owns this code (try the next candidate).
                existing = self._promo_by_key(idempotency_key)
                if existing is not None:
                    return _replayed_promo(existing, terms)
                continue
            return PromoCodeResult(code=code, pos_reference=pos_reference, replayed=False)
        raise PermanentError("could not allocate a unique promo code", code="CODE_SPACE_EXHAUSTED")

    def attach_promo_to_customer(self, *, idempotency_key: str, code: str, pos_customer_id: str) -> AttachResult:
        """Bind the code to the guest. Naturally idempotent: attaching to the same guest again is a no-op;
        attaching a code already bound to someone else is refused."""
        with self._engine.begin() as conn:
            customer = self._customer(conn, pos_customer_id)
            if customer is None:
                raise PermanentError(f"unknown customer {pos_customer_id!r}", status_code=404, code="NOT_FOUND")
            customer_id = customer.id
            promo = conn.execute(_PROMO_FOR_ATTACH, {"code": code}).first()
            if promo is None:
                raise PermanentError(f"unknown promo code {code!r}", status_code=404, code="NOT_FOUND")
            if promo.attached_at is not None:
                if promo.customer_id != customer_id:
                    raise IdempotencyConflict(f"promo code {code!r} is already attached to another customer")
                return AttachResult(code=code, pos_customer_id=pos_customer_id, pos_reference=promo.pos_reference,
                                    replayed=True)
            # Conditional update: if two calls race, exactly one flips attached_at.
            result = conn.execute(_ATTACH_PROMO, {"promo_id": promo.id, "attached_at": utcnow(),
                                                  "attach_to": customer_id})
            replayed = result.rowcount == 0
        return AttachResult(code=code, pos_customer_id=pos_customer_id, pos_reference=promo.pos_reference,
                            replayed=replayed)

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
        validate_points(points)
        return self._apply_points(idempotency_key, pos_customer_id, points, reason, transaction_id, offer_id)

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
        return self._apply_points(idempotency_key, pos_customer_id, -points, reason, None, offer_id)

    def _apply_points(
        self,
        key: str,
        pos_customer_id: str,
        delta: int,
        reason: str,
        pos_transaction_id: str | None,
        offer_id: str | None,
    ) -> PointsResult:
        """One ledger row + one atomic balance update in a single transaction.

        The ledger INSERT goes first: a duplicate key fails right there, before the balance moves.
        The balance is returned as it stands now (a replay reports the current balance).
        """
        replay = self._replayed_points(key, pos_customer_id, delta)
        if replay is not None:
            return replay
        with self._engine.connect() as conn:
            customer = self._customer(conn, pos_customer_id)
            if customer is None:
                raise PermanentError(f"unknown customer {pos_customer_id!r}", status_code=404, code="NOT_FOUND")
            customer_id = customer.id
            transaction_pk = self._transaction_pk(conn, customer.merchant_id, pos_transaction_id)
        try:
            with self._engine.begin() as conn:
                ledger_id = conn.execute(_INSERT_LEDGER, {
                    "idempotency_key": key, "customer_id": customer_id, "delta": delta, "reason": reason,
                    "transaction_id": transaction_pk, "offer_id": offer_id, "created_at": utcnow(),
                }).scalar_one()
                balance = conn.execute(
                    _MOVE_POINTS, {"customer_id": customer_id, "delta": delta, "moved_at": utcnow()}
                ).scalar()
                if balance is None:
                    raise InsufficientPoints(
                        f"customer {pos_customer_id!r} has fewer than {-delta} points", code="INSUFFICIENT_POINTS"
                    )
                reference = f"sandbox:ledger:{ledger_id}"
        except IntegrityError:
            replay = self._replayed_points(key, pos_customer_id, delta)
            if replay is None:
                raise
            return replay
        return PointsResult(balance=balance, pos_reference=reference, replayed=False)

    # -- helpers -------------------------------------------------------------------------------

    def _find_customer(self, session: Session, pos_customer_id: str) -> Customer | None:
        stmt = select(Customer).where(Customer.pos_customer_id == pos_customer_id)
        if self._merchant_id is not None:
            stmt = stmt.where(Customer.merchant_id == self._merchant_id)
        return _one_or_none(session.exec(stmt).all(), what=f"customer {pos_customer_id!r}")

    def _customer(self, conn: Connection, pos_customer_id: str) -> Row[int | None, str] | None:
        """The guest's (id, merchant_id), or None."""
        rows = conn.execute(self._customer_by_pos_id, {"pos_customer_id": pos_customer_id}).all()
        return _one_or_none(rows, what=f"customer {pos_customer_id!r}")

    @staticmethod
    def _transaction_pk(conn: Connection, merchant_id: str, pos_transaction_id: str | None) -> int | None:
        if pos_transaction_id is None:
            return None
        pk: int | None = conn.execute(
            select_columns(col(PosTransaction.id)).where(
                col(PosTransaction.merchant_id) == merchant_id,
                col(PosTransaction.pos_transaction_id) == pos_transaction_id,
            )
        ).scalar()
        if pk is None:
            raise PermanentError(f"unknown transaction {pos_transaction_id!r}", status_code=404, code="NOT_FOUND")
        return pk

    def _promo_by_key(self, key: str) -> Row[Any] | None:
        with self._engine.connect() as conn:
            return conn.execute(_PROMO_BY_KEY, {"key": key}).first()

    def _replayed_points(self, key: str, pos_customer_id: str, delta: int) -> PointsResult | None:
        with self._engine.connect() as conn:
            entry = conn.execute(_LEDGER_BY_KEY, {"key": key}).first()
            if entry is None:
                return None
            customer = conn.execute(_CUSTOMER_POINTS, {"customer_id": entry.customer_id}).first()
            if customer is None or customer.pos_customer_id != pos_customer_id or entry.delta != delta:
                raise IdempotencyConflict(f"idempotency key {key!r} was used for a different points movement")
            return PointsResult(balance=customer.points, pos_reference=f"sandbox:ledger:{entry.id}", replayed=True)


def _replayed_promo(existing: Row[Any], terms: Mapping[str, Any]) -> PromoCodeResult:
    # customer_id is left out: attaching the code to a guest legitimately sets it after creation.
    compared = {name: value for name, value in terms.items() if name != "customer_id"}
    stored = {name: getattr(existing, name) for name in compared}
    if stored != compared:
        raise IdempotencyConflict(
            f"idempotency key {existing.idempotency_key!r} was used for different promo terms"
        )
    return PromoCodeResult(code=existing.code, pos_reference=existing.pos_reference, replayed=True)


def _one_or_none(rows: Sequence[T], *, what: str) -> T | None:
    items = list(rows)
    if len(items) > 1:
        raise PermanentError(f"{what} is ambiguous across merchants: configure SandboxPos(merchant_id=...)")
    return items[0] if items else None
