"""What is true about each sandbox guest, computed from the database independently of the answerer.

Nothing here calls agent/ask: visits, favourites, points to a tier, birthday month, consents, open
offers, allergies and eligibility are recomputed from the raw rows with their own (small) code, so
the suite can catch an answerer bug instead of agreeing with it. Shared with the product are only
data: the allergen vocabulary (core.allergens) and the POS tier thresholds.

Definitions match the product's documented ones: a visit is a customer-day in the location's time
zone (profiles.features); dates shown to associates are the guest's local dates.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.allergens import TOP9_ALLERGENS, normalize_allergen
from core.tiers import TIER_THRESHOLDS
from db.tables import (
    CatalogItem,
    Customer,
    CustomerContact,
    Location,
    LoyaltyLedger,
    Offer,
    PosTransaction,
    PromoCode,
    TransactionLine,
)

LEGAL_AGE = 21
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_DIGITS = re.compile(r"\+?\(?\d[\d ().-]{7,}\d")
_AFTER_LIVES_AT = re.compile(r"lives at ([^;]+?)\.?$", re.IGNORECASE)
_PARTNER = re.compile(r"Partner ([A-Z][a-z]+ [A-Z][a-z]+)")


@dataclass
class GuestTruth:
    customer_id: int
    pos_id: str
    pseudonym: str
    timezone: str
    tier: str
    points: int
    lifetime_points: int
    allergies: list[str] | None
    birthday: date | None
    consent_sms: bool
    consent_email: bool
    consent_alcohol: bool
    opted_out: bool
    age_verified: bool
    location_allows_alcohol: bool
    given_name: str | None
    family_name: str | None
    email: str | None
    phone: str | None
    note: str | None
    visit_days: list[date] = field(default_factory=list)  # location-local days, sorted
    last_visit_dates: set[str] = field(default_factory=set)  # guest-local ISO dates of the last visit
    item_days: dict[str, int] = field(default_factory=dict)  # sku -> visits with it
    transactions: set[str] = field(default_factory=set)
    offers: set[str] = field(default_factory=set)
    usable_codes: list[str] = field(default_factory=list)
    pending_offers: int = 0

    @property
    def visits(self) -> int:
        return len(self.visit_days)

    def top_items(self) -> set[str]:
        if not self.item_days:
            return set()
        best = max(self.item_days.values())
        return {sku for sku, n in self.item_days.items() if n == best}

    def allergy_state(self) -> str:
        return "unknown" if self.allergies is None else ("none" if not self.allergies else "list")

    def contact_values(self) -> list[str]:
        return [v for v in (self.given_name, self.family_name, self.email, self.phone) if v]

    def note_pii(self) -> list[str]:
        """Identifying fragments written into the staff note: emails, phone/card/SSN digits, an
        address, a partner's name, and the guest's own given name."""
        if not self.note:
            return []
        found = _EMAIL.findall(self.note) + [m for m in _DIGITS.findall(self.note) if sum(c.isdigit() for c in m) >= 9]
        found += _AFTER_LIVES_AT.findall(self.note) + _PARTNER.findall(self.note)
        if self.given_name and re.search(rf"\b{re.escape(self.given_name)}\b", self.note):
            found.append(self.given_name)
        return found


@dataclass
class Truth:
    guests: dict[str, GuestTruth]  # by POS id
    catalog: dict[str, CatalogItem]
    today: date

    def by_id(self, customer_id: int) -> GuestTruth:
        return next(g for g in self.guests.values() if g.customer_id == customer_id)

    def allowed(self, guest: GuestTruth, sku: str) -> bool:
        """May this item be suggested to this guest (allergens as recorded, alcohol rules)?"""
        item = self.catalog[sku]
        allergens = {normalize_allergen(a) for a in item.allergens}
        if guest.allergies is None:
            if allergens & set(TOP9_ALLERGENS):
                return False
        elif allergens & {normalize_allergen(a) for a in guest.allergies}:
            return False
        if item.contains_alcohol:
            age = _age(guest.birthday, self.today) if guest.birthday else None
            return (guest.age_verified and guest.consent_alcohol and guest.location_allows_alcohol
                    and (age is None or age >= LEGAL_AGE))
        return True

    def points_to(self, guest: GuestTruth, tier: str) -> int:
        return max(0, dict(TIER_THRESHOLDS)[tier] - guest.lifetime_points)


def _age(birthday: date, today: date) -> int:
    return today.year - birthday.year - ((today.month, today.day) < (birthday.month, birthday.day))


def compute_truth(engine: Engine, *, now: datetime) -> Truth:
    with Session(engine) as session:
        customers = session.exec(select(Customer)).all()
        contacts = {c.customer_id: c for c in session.exec(select(CustomerContact)).all()}
        locations = {loc.id: loc for loc in session.exec(select(Location)).all()}
        catalog = {item.sku: item for item in session.exec(select(CatalogItem)).all()}
        earned: dict[int, int] = defaultdict(int)
        for credit in session.exec(select(LoyaltyLedger).where(col(LoyaltyLedger.delta) > 0)).all():
            earned[credit.customer_id] += credit.delta
        rows = session.exec(
            select(PosTransaction, TransactionLine).join(
                TransactionLine, col(TransactionLine.transaction_id) == col(PosTransaction.id))
            .where(col(PosTransaction.customer_id).is_not(None))
        ).all()
        offers = session.exec(select(Offer)).all()
        codes = {p.code: p for p in session.exec(select(PromoCode)).all()}
    guests: dict[int, GuestTruth] = {}
    for c in customers:
        contact = contacts.get(c.id or 0)
        home = locations.get(c.home_location_id or "")
        guests[c.id or 0] = GuestTruth(
            customer_id=c.id or 0, pos_id=c.pos_customer_id, pseudonym=c.pseudonym, timezone=c.timezone, tier=c.tier,
            points=c.points, lifetime_points=earned.get(c.id or 0, c.points), allergies=c.allergies,
            birthday=c.birthday, consent_sms=c.consent_sms and c.opted_out_at is None,
            consent_email=c.consent_email and c.opted_out_at is None, consent_alcohol=c.consent_alcohol_marketing,
            opted_out=c.opted_out_at is not None, age_verified=c.age_verified,
            location_allows_alcohol=(home.alcohol_policy if home else "allowed") == "allowed",
            given_name=contact.given_name if contact else None, family_name=contact.family_name if contact else None,
            email=contact.email if contact else None, phone=contact.phone if contact else None,
            note=contact.notes if contact else None,
        )
    days: dict[int, dict[date, list[tuple[datetime, set[str]]]]] = defaultdict(lambda: defaultdict(list))
    by_txn: dict[int, tuple[PosTransaction, set[str]]] = {}
    for txn, line in rows:
        entry = by_txn.setdefault(txn.id or 0, (txn, set()))
        entry[1].add(line.sku)
    for txn, skus in by_txn.values():
        guest = guests[txn.customer_id or 0]
        guest.transactions.add(txn.pos_transaction_id)
        day = txn.occurred_at.astimezone(ZoneInfo(locations[txn.location_id].timezone)).date()
        days[guest.customer_id][day].append((txn.occurred_at, skus))
    for customer_id, per_day in days.items():
        guest = guests[customer_id]
        guest.visit_days = sorted(per_day)
        for visits in per_day.values():
            for sku in set().union(*(skus for _, skus in visits)):
                guest.item_days[sku] = guest.item_days.get(sku, 0) + 1
        last = per_day[guest.visit_days[-1]]
        guest.last_visit_dates = {at.astimezone(ZoneInfo(guest.timezone)).date().isoformat() for at, _ in last}
    for offer in offers:
        guest = guests[offer.customer_id]
        guest.offers.add(offer.id)
        live = offer.expires_at is None or offer.expires_at > now
        promo = codes.get(offer.promo_code or "")
        if offer.status == "sent" and live and promo is not None and promo.redeemed_at is None:
            guest.usable_codes.append(promo.code)
        elif offer.status in ("pending_review", "reviewing", "approved") and live:
            guest.pending_offers += 1
    today = now.date()
    return Truth(guests={g.pos_id: g for g in guests.values()}, catalog=catalog, today=today)


def local_today(guest: GuestTruth, now: datetime) -> date:
    return now.astimezone(ZoneInfo(guest.timezone)).date()
