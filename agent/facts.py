"""Database -> domain facts for one decision: catalog, customer facts, offer history, and the pure
rules that turn them into what a drafter may see (alcohol eligibility, the catalog pre-filter); the
DraftInput itself is assembled in agent.draft_input.

Everything returned here is pseudonymous: contact PII is read only to scrub free text (as
`known_values` for the pseudonymizer) and never leaves this module unscrubbed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from core.allergens import normalize_allergens
from core.schemas import CatalogFact, CustomerFacts, OfferHistoryEntry
from db.engine import core_connection
from db.offers import FATIGUE_STATUSES, HISTORY_STATUS
from db.tables import CatalogItem, Customer, CustomerContact, Location, Offer, OutboundMessage
from guardrails.alcohol import alcohol_ineligibility_reasons
from guardrails.policy import Policy
from tools.marketing.outbox import HISTORY_STATUS as MESSAGE_HISTORY_STATUS

HISTORY_WINDOW_DAYS = 90


def offer_id_for(event_id: str) -> str:
    """One offer per decision: derived from the event, so a re-run finds the same row."""
    return "off_" + hashlib.sha256(event_id.encode()).hexdigest()[:20]


def load_catalog(session: Session, *, merchant_id: str) -> dict[str, CatalogFact]:
    rows = session.exec(select(CatalogItem).where(col(CatalogItem.merchant_id) == merchant_id)).all()
    return {
        r.sku: CatalogFact(
            sku=r.sku,
            name=r.name,
            category=r.category,
            subcategory=r.subcategory,
            price_cents=r.price_cents,
            unit_cost_cents=r.unit_cost_cents,
            allergens=list(r.allergens),
            contains_alcohol=r.contains_alcohol,
            active=r.active,
        )
        for r in rows
    }


def customer_facts(
    customer: Customer, location: Location | None, *, clv_cents: int = 0, visits_12m: int = 0, spend_12m_cents: int = 0
) -> CustomerFacts:
    return CustomerFacts(
        pseudonym=customer.pseudonym,
        tier=customer.tier,
        age_verified=customer.age_verified,
        birthday=customer.birthday,
        allergies=customer.allergies,
        consent_sms=customer.consent_sms,
        consent_email=customer.consent_email,
        consent_alcohol_marketing=customer.consent_alcohol_marketing,
        opted_out=customer.opted_out_at is not None,
        timezone=customer.timezone,
        location_alcohol_policy=location.alcohol_policy if location else "allowed",
        clv_cents=clv_cents,
        visits_12m=visits_12m,
        spend_12m_cents=spend_12m_cents,
    )


# Built once (the decision path reads history three times, and building the statement cost more than
# running it); only the columns history needs, as plain rows.
_HISTORY_OFFERS = sa_select(*(col(c) for c in (
    Offer.id, Offer.customer_id, Offer.channel, Offer.offer_type, Offer.status, Offer.trigger, Offer.strategy,
    Offer.scheduled_for, Offer.created_at,
))).where(
    col(Offer.customer_id).in_(bindparam("customer_ids", expanding=True)),
    col(Offer.created_at) >= bindparam("since"),
    col(Offer.status).in_(sorted(FATIGUE_STATUSES)),
)
# Messages not tied to an offer (e.g. other campaigns) count towards fatigue too.
_HISTORY_LOOSE_MESSAGES = sa_select(*(col(c) for c in (
    OutboundMessage.customer_id, OutboundMessage.channel, OutboundMessage.status, OutboundMessage.sent_at,
    OutboundMessage.scheduled_for,
))).where(
    col(OutboundMessage.customer_id).in_(bindparam("customer_ids", expanding=True)),
    col(OutboundMessage.offer_id).is_(None),
    col(OutboundMessage.created_at) >= bindparam("since"),
    col(OutboundMessage.status).in_(sorted(MESSAGE_HISTORY_STATUS)),
)


def offer_history(
    session: Session,
    *,
    customer_id: int,
    now: datetime,
    exclude_offer_id: str | None = None,
    days: int = HISTORY_WINDOW_DAYS,
) -> list[OfferHistoryEntry]:
    """Offers sent, scheduled or awaiting review for this customer, from any trigger or campaign
    (db.offers.FATIGUE_STATUSES), plus messages not tied to an offer."""
    return offer_histories(session, customer_ids=[customer_id], now=now, exclude_offer_id=exclude_offer_id,
                           days=days)[customer_id]


def offer_histories(
    session: Session,
    *,
    customer_ids: Sequence[int],
    now: datetime,
    exclude_offer_id: str | None = None,
    days: int = HISTORY_WINDOW_DAYS,
) -> dict[int, list[OfferHistoryEntry]]:
    """`offer_history` of many customers at once (two queries per 500 customers), oldest entry first."""
    since = now - timedelta(days=days)
    connection = core_connection(session)
    out: dict[int, list[OfferHistoryEntry]] = {customer_id: [] for customer_id in customer_ids}
    ids = sorted(out)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        params = {"customer_ids": chunk, "since": since}
        offers: Sequence[Any] = connection.execute(_HISTORY_OFFERS, params).all()
        for offer_id, customer_id, channel, offer_type, status, trigger, strategy, scheduled_for, created_at in offers:
            if offer_id == exclude_offer_id or channel not in ("sms", "email"):
                continue
            out[customer_id].append(
                OfferHistoryEntry(at=scheduled_for or created_at, channel=channel, offer_type=offer_type,
                                  status=HISTORY_STATUS[status], trigger=trigger, strategy=strategy)
            )
        loose: Sequence[Any] = connection.execute(_HISTORY_LOOSE_MESSAGES, params).all()
        for customer_id, channel, status, sent_at, scheduled_for in loose:
            if channel not in ("sms", "email"):
                continue
            out[customer_id].append(
                OfferHistoryEntry(at=sent_at or scheduled_for, channel=channel,
                                  status=MESSAGE_HISTORY_STATUS[status], trigger="message")
            )
    return {customer_id: sorted(entries, key=lambda e: e.at) for customer_id, entries in out.items()}


def contact_known_values(session: Session, *, customer_id: int) -> tuple[tuple[str, ...], str | None]:
    """This guest's own contact values (to scrub from free text) and the raw staff notes."""
    return known_values_of(session.get(CustomerContact, customer_id))


def known_values_of(contact: CustomerContact | None) -> tuple[tuple[str, ...], str | None]:
    """A contact row's values (to scrub from free text) and its raw staff notes."""
    if contact is None:
        return (), None
    values = tuple(v for v in (contact.given_name, contact.family_name, contact.email, contact.phone) if v)
    return values, contact.notes


def alcohol_eligible(facts: CustomerFacts, policy: Policy, today: date) -> bool:
    """Whether this guest may be offered alcohol at all on their local date `today`: the alcohol rule's
    own test (guardrails.alcohol), shared by the catalog pre-filter and the drafter's consent summary
    so they never disagree with the rule."""
    return not alcohol_ineligibility_reasons(facts, policy.alcohol, today)


def eligible_catalog(
    catalog: Mapping[str, CatalogFact], *, facts: CustomerFacts, policy: Policy, today: date
) -> list[CatalogFact]:
    """Items worth showing the drafter: active, priced, no alcohol for an ineligible guest, none of their
    allergens. A convenience pre-filter only: the guardrails re-check all of it."""
    allergies = normalize_allergens(facts.allergies) if facts.allergies is not None else None
    # Unknown allergies: nothing centred on a top-9 allergen unless the policy allows or escalates it.
    unknown_excludes = (
        normalize_allergens(policy.top9_allergens)
        if allergies is None
        and not policy.allow_unknown_allergy_offers_on_top9
        and policy.unknown_allergy_action == "block"
        else frozenset()
    )
    alcohol_ok = alcohol_eligible(facts, policy, today)
    out = []
    for item in catalog.values():
        if not item.active or item.price_cents <= 0:
            continue
        if item.contains_alcohol and not alcohol_ok:
            continue
        item_allergens = normalize_allergens(item.allergens)
        if allergies is not None and item_allergens & allergies:
            continue
        if item_allergens & unknown_excludes:
            continue
        out.append(item)
    return out


def local_date(now: datetime, tz: str) -> date:
    return now.astimezone(ZoneInfo(tz)).date()


def days_until_birthday(birthday: date | None, today: date) -> int | None:
    if birthday is None:
        return None
    for year in (today.year, today.year + 1):
        try:
            next_bd = birthday.replace(year=year)
        except ValueError:  # 29 February
            next_bd = date(year, 3, 1)
        if next_bd >= today:
            return (next_bd - today).days
    return None


def jsonable(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json")  # type: ignore[no-any-return]


def excluded_categories(catalog: Mapping[str, CatalogFact], eligible: list[CatalogFact]) -> list[str]:
    """Categories holding an active item this guest may not be offered (or that has no price): a
    category offer would cover it."""
    eligible_skus = {item.sku for item in eligible}
    return sorted({item.category for item in catalog.values() if item.active and item.sku not in eligible_skus})
