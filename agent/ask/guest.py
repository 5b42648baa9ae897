"""Loading the one guest a question is about: every read is keyed by that guest's own ids.

Nothing here takes a name, a free-text reference or another customer's id: the guest is resolved
once from (merchant, POS id) and every later query filters on its internal id. Contact PII is read
only as `known_values` for scrubbing and checking, and never leaves the caller's process memory
(it is not put in graph state or audit rows).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from agent.facts import contact_known_values
from db.loyalty import lifetime_points_earned as ledger_points_earned
from db.offers import APPROVED, PENDING_REVIEW, REVIEWING, SENT
from db.tables import Customer, Location, Offer, PosTransaction, PromoCode
from profiles.fit import load_visits
from profiles.visits import Visit

# Offer statuses that can still matter at the till (sent = the guest holds a code; the others are
# on their way or with a reviewer).
OPEN_OFFER_STATUSES = (SENT, APPROVED, PENDING_REVIEW, REVIEWING)


class UnknownGuestError(LookupError):
    """No guest with that POS id at this merchant."""


@dataclass(frozen=True)
class GuestRef:
    """The resolved guest: internal id, tenant, and the POS id the associate used."""

    customer_id: int
    merchant_id: str
    pos_customer_id: str


def resolve_guest(session: Session, *, merchant_id: str, pos_customer_id: str) -> GuestRef:
    """The guest with this POS id; pseudonyms and internal ids are not accepted (associates address
    guests by POS id only, and must not be able to test pseudonym links)."""
    customer = session.exec(
        select(Customer).where(
            col(Customer.merchant_id) == merchant_id, col(Customer.pos_customer_id) == pos_customer_id
        )
    ).first()
    if customer is None or customer.id is None:
        raise UnknownGuestError(pos_customer_id)
    return GuestRef(customer_id=customer.id, merchant_id=merchant_id, pos_customer_id=pos_customer_id)


def load_customer(session: Session, ref: GuestRef) -> tuple[Customer, Location | None]:
    customer = session.get(Customer, ref.customer_id)
    if customer is None or customer.merchant_id != ref.merchant_id:
        raise UnknownGuestError(ref.pos_customer_id)
    location = session.get(Location, customer.home_location_id) if customer.home_location_id else None
    return customer, location


def guest_visits(session: Session, ref: GuestRef) -> list[Visit]:
    return load_visits(session, customer_id=ref.customer_id)


def lifetime_points_earned(session: Session, ref: GuestRef) -> int | None:
    """Points ever credited (positive ledger entries); None when the ledger has no credits for the guest."""
    return ledger_points_earned(session, [ref.customer_id]).get(ref.customer_id)


def pos_transaction_ids(session: Session, ref: GuestRef, transaction_ids: Iterable[int]) -> dict[int, str]:
    """Our transaction id -> the POS's id, for this guest's transactions only."""
    ids = sorted(set(transaction_ids))
    if not ids:
        return {}
    rows = session.exec(
        select(PosTransaction.id, PosTransaction.pos_transaction_id).where(
            col(PosTransaction.customer_id) == ref.customer_id, col(PosTransaction.id).in_(ids)
        )
    ).all()
    return {int(tid): pos_id for tid, pos_id in rows if tid is not None}


def location_names(session: Session, merchant_id: str) -> dict[str, str]:
    rows = session.exec(select(Location.id, Location.name).where(col(Location.merchant_id) == merchant_id)).all()
    return dict(rows)


@dataclass(frozen=True)
class OpenOffer:
    offer: Offer
    promo: PromoCode | None


def open_offers(session: Session, ref: GuestRef, *, now: datetime) -> list[OpenOffer]:
    """This guest's offers that are live or on their way: not expired, not redeemed, not blocked."""
    offers = session.exec(
        select(Offer)
        .where(col(Offer.customer_id) == ref.customer_id, col(Offer.status).in_(OPEN_OFFER_STATUSES))
        .order_by(col(Offer.created_at).desc(), col(Offer.id))
    ).all()
    out: list[OpenOffer] = []
    for offer in offers:
        if offer.expires_at is not None and offer.expires_at <= now:
            continue
        promo = (
            session.exec(select(PromoCode).where(col(PromoCode.code) == offer.promo_code)).first()
            if offer.promo_code
            else None
        )
        if promo is not None and (promo.redeemed_at is not None or promo.customer_id != ref.customer_id):
            continue
        out.append(OpenOffer(offer=offer, promo=promo))
    return out


def guest_contact(session: Session, ref: GuestRef) -> tuple[tuple[str, ...], str | None]:
    """This guest's contact values (to scrub and to check answers against) and raw staff notes."""
    return contact_known_values(session, customer_id=ref.customer_id)
