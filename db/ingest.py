"""Recording what the POS tells us: sales and guest-profile updates. Idempotent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlmodel import Session, col

from core.events import CustomerData, SaleChecks, SaleCompleted, sale_refusal
from db.pseudonyms import make_pseudonym
from db.redemptions import TillCode, record_till_codes
from db.tables import (
    Customer,
    CustomerContact,
    InboxEvent,
    Location,
    Merchant,
    PosTransaction,
    TransactionLine,
)
from db.types import utcnow


class IngestError(ValueError):
    """The event cannot be recorded as it stands (permanent: retrying will not help)."""


@dataclass(frozen=True)
class RecordedSale:
    transaction_id: int
    customer_id: int | None
    merchant_id: str
    created: bool
    source_event_id: str | None = None  # the inbox event that recorded the sale (it alone decides it)


# Called by the worker after a sale is recorded; returns the outcome (sent | pending_review | blocked | no_offer).
OfferRunner = Callable[[InboxEvent, RecordedSale], str]


def get_location(session: Session, *, location_id: str) -> Location | None:
    return session.get(Location, location_id)


@dataclass(frozen=True)
class LocationMerchant:
    """What checking a sale needs to know about where it happened."""

    location_id: str
    merchant_id: str
    currency: str


def location_merchant(session: Session, *, location_id: str) -> LocationMerchant | None:
    row = session.execute(
        select(col(Location.merchant_id), col(Merchant.currency))
        .join(Merchant, col(Merchant.id) == col(Location.merchant_id))
        .where(col(Location.id) == location_id)
    ).first()
    return None if row is None else LocationMerchant(location_id, row[0], row[1])


def check_sale(sale: SaleCompleted, where: LocationMerchant, *, now: datetime | None, checks: SaleChecks) -> None:
    """Raise IngestError with every reason `sale` cannot be recorded (see core.events.sale_refusal)."""
    problems = sale_refusal(sale, currency=where.currency, now=now, checks=checks)
    if problems:
        raise IngestError("; ".join(f"{'.'.join(p.loc)}: {p.msg}" for p in problems))


def get_customer_by_pos_id(session: Session, *, merchant_id: str, pos_customer_id: str) -> Customer | None:
    return session.execute(
        select(Customer).where(Customer.merchant_id == merchant_id,  # type: ignore[arg-type]
                               Customer.pos_customer_id == pos_customer_id)  # type: ignore[arg-type]
    ).scalar_one_or_none()


def ensure_customer(session: Session, *, merchant_id: str, pos_customer_id: str, pseudonym_secret: str,
                    timezone: str | None = None) -> Customer:
    """The customer, created minimal if unknown: no consents, allergies unknown (None, not [])."""
    customer = get_customer_by_pos_id(session, merchant_id=merchant_id, pos_customer_id=pos_customer_id)
    if customer is None:
        customer = Customer(
            merchant_id=merchant_id, pos_customer_id=pos_customer_id,
            pseudonym=make_pseudonym(merchant_id, pos_customer_id, pseudonym_secret),
            allergies=None, timezone=timezone or "America/New_York",
        )
        session.add(customer)
        session.flush()
    return customer


def record_sale(session: Session, *, sale: SaleCompleted, event_id: str, pseudonym_secret: str,
                checks: SaleChecks) -> RecordedSale:
    """Record a sale once (keyed on the POS transaction id) and the codes it used at the till
    (db.redemptions: ours redeemed once; expired, repeated and foreign codes recorded as such).

    The sale is checked again here (currency, totals; not the clock, see `sale_refusal`): the webhook
    checked generic sales at the door, but Square sales are built from fetched orders, and a row can
    sit in the inbox from before a check existed.
    """
    where = location_merchant(session, location_id=sale.data.location_id)
    if where is None:
        raise IngestError(f"unknown location_id {sale.data.location_id!r}")
    check_sale(sale, where, now=None, checks=checks)
    location = get_location(session, location_id=where.location_id)
    assert location is not None
    existing = session.execute(
        select(PosTransaction).where(PosTransaction.merchant_id == location.merchant_id,  # type: ignore[arg-type]
                                     PosTransaction.pos_transaction_id == sale.data.id)  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if existing is not None:
        return RecordedSale(existing.id or 0, existing.customer_id, location.merchant_id, created=False,
                            source_event_id=existing.source_event_id)
    customer_id: int | None = None
    if sale.data.customer_id:
        customer = ensure_customer(session, merchant_id=location.merchant_id,
                                   pos_customer_id=sale.data.customer_id, pseudonym_secret=pseudonym_secret,
                                   timezone=location.timezone)
        customer_id = customer.id
    txn = PosTransaction(
        merchant_id=location.merchant_id, location_id=location.id, pos_transaction_id=sale.data.id,
        customer_id=customer_id, occurred_at=sale.created_at, total_cents=sale.data.total_money.amount,
        currency=sale.data.total_money.currency, party_size=sale.data.party_size, source_event_id=event_id,
    )
    session.add(txn)
    session.flush()
    assert txn.id is not None
    session.add_all([
        TransactionLine(transaction_id=txn.id, sku=li.sku, name=li.name, quantity=li.quantity,
                        unit_price_cents=li.unit_price_cents)
        for li in sale.data.line_items
    ])
    record_till_codes(session, merchant_id=location.merchant_id, transaction_id=txn.id, customer_id=customer_id,
                      codes=[TillCode(d.code, d.amount.amount) for d in sale.data.discounts], at=sale.created_at)
    session.flush()
    return RecordedSale(txn.id, customer_id, location.merchant_id, created=True, source_event_id=event_id)


def upsert_customer(session: Session, *, data: CustomerData, merchant_id: str, pseudonym_secret: str) -> Customer:
    """Apply a guest-profile update. Absent fields stay as they are."""
    if data.timezone is not None:
        try:
            ZoneInfo(data.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise IngestError(f"unknown timezone {data.timezone!r}") from exc
    customer = ensure_customer(session, merchant_id=merchant_id, pos_customer_id=data.customer_id,
                               pseudonym_secret=pseudonym_secret)
    assert customer.id is not None
    if data.birthday is not None:
        customer.birthday = data.birthday
    if data.allergies is not None:
        customer.allergies = sorted({a.strip().lower().replace(" ", "_") for a in data.allergies if a.strip()})
    if data.age_verified is not None:
        customer.age_verified = data.age_verified
    if data.timezone is not None:
        customer.timezone = data.timezone
    if data.consent is not None:
        if data.consent.sms is not None:
            customer.consent_sms = data.consent.sms
        if data.consent.email is not None:
            customer.consent_email = data.consent.email
        if data.consent.alcohol_marketing is not None:
            customer.consent_alcohol_marketing = data.consent.alcohol_marketing
    if data.opted_out is True:
        customer.opted_out_at = customer.opted_out_at or utcnow()
        customer.consent_sms = customer.consent_email = False
    elif data.opted_out is False:
        customer.opted_out_at = None
    customer.profile_version += 1
    customer.updated_at = utcnow()
    contact = session.get(CustomerContact, customer.id) or CustomerContact(customer_id=customer.id)
    for field in ("given_name", "family_name", "email", "phone", "notes"):
        value = getattr(data, field)
        if value is not None:
            setattr(contact, field, value)
    contact.updated_at = utcnow()
    session.add(customer)
    session.add(contact)
    session.flush()
    return customer
