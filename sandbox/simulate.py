"""`loyalty-agent simulate`: the sandbox's guests living through days on the merchant's test clock.

For each simulated day every sandbox guest may come in (sandbox.responders: their persona's rhythm, lifted by
the campaign offers that reached them), and redeems the codes they hold with known probabilities; the visits
become `sale.completed` events (the codes in `data.discounts`, the total net of them) that the CLI sends as
signed webhooks, so redemptions arrive through the real sale path. `campaign_truth` computes, from the same
probabilities, what a campaign's report should find: the expected visit and redemption rates of each arm
given who was assigned and reached (the effect the report's interval must cover).

Reads the database for the guests, the catalog and the offers; writes nothing (sales go through the webhook).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from statistics import fmean
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from db import campaigns as lifecycle
from db.tables import Campaign, CatalogItem, Customer, Offer, OutboundMessage, PosTransaction, PromoCode
from db.tables import TransactionLine as Line
from sandbox.personas import GuestProfile, draw_profile
from sandbox.responders import (
    HeldOffer,
    day_rng,
    draw_redeem,
    draw_visit,
    hazard,
    redeem_probability,
    visit_probability,
)
from sandbox.restaurant import CURRENCY, DEFAULT_END, MERCHANT_ID, history_window, short_hash

CLOCK_START = datetime.combine(DEFAULT_END, time(15, 0), tzinfo=UTC)  # the seeded history ends the day before
_REACHING = ("scheduled", "sending", "sent")  # outbox statuses of a message that gets (or got) to the guest


@dataclass(frozen=True)
class SimGuest:
    customer_id: int
    pos_customer_id: str
    location_id: str
    profile: GuestProfile
    usual_sku: str | None


def load_guests(engine: Engine, *, seed: int, months: int = 12, merchant_id: str = MERCHANT_ID
                ) -> dict[int, SimGuest]:
    """The seeded guests with their generator persona (ground truth; guests the seed did not make are left
    out) and the item they order most."""
    start, end = history_window(months, DEFAULT_END)
    with Session(engine) as session:
        customers = session.exec(select(Customer).where(col(Customer.merchant_id) == merchant_id)).all()
        usual: dict[int, str] = {}
        for customer_id, sku, _n in session.exec(
            select(PosTransaction.customer_id, Line.sku, func.count())
            .join(Line, col(Line.transaction_id) == col(PosTransaction.id))
            .where(col(PosTransaction.merchant_id) == merchant_id, col(PosTransaction.customer_id).is_not(None))
            .group_by(col(PosTransaction.customer_id), col(Line.sku))
            .order_by(col(PosTransaction.customer_id), func.count().desc(), col(Line.sku))
        ).all():
            if customer_id is not None:
                usual.setdefault(customer_id, sku)
    guests = {}
    for customer in customers:
        number = customer.pos_customer_id.removeprefix("cust_")
        if customer.id is None or not number.isdigit():
            continue
        profile, _rng = draw_profile(seed, int(number), start, end)
        guests[customer.id] = SimGuest(customer.id, customer.pos_customer_id, customer.home_location_id or "loc_1",
                                       profile, usual.get(customer.id))
    return guests


def held_offers(engine: Engine, *, merchant_id: str = MERCHANT_ID) -> dict[int, list[HeldOffer]]:
    """Campaign offers that reached each guest (sent, message not cancelled or refused), with their codes."""
    with Session(engine) as session:
        rows = session.exec(
            select(Offer, Campaign.kind)
            .join(Campaign, col(Campaign.id) == col(Offer.campaign_id))
            .join(OutboundMessage, col(OutboundMessage.offer_id) == col(Offer.id))
            .where(col(Offer.merchant_id) == merchant_id, col(Offer.status) == "sent",
                   col(OutboundMessage.status).in_(_REACHING))
            # A guest's offers draw their redemptions in this order (responders), so it must not be the
            # database's whim: PostgreSQL returned them in another order at the end than on the day.
            .order_by(col(Offer.scheduled_for), col(Offer.id))
        ).all()
        codes = {p.offer_id: p.code for p in session.exec(
            select(PromoCode).where(col(PromoCode.offer_id).in_([o.id for o, _kind in rows]))).all()}
    held: dict[int, list[HeldOffer]] = defaultdict(list)
    for offer, kind in rows:
        # The offer's own send time (quiet hours included), on the merchant's clock: the outbox row's times are
        # the sender's (real time, and a lease while sending).
        assert offer.campaign_id is not None and offer.expires_at is not None and offer.scheduled_for is not None
        held[offer.customer_id].append(HeldOffer(
            campaign_id=offer.campaign_id, kind=kind, reached_at=offer.scheduled_for, expires_at=offer.expires_at,
            code=codes.get(offer.id), sku=offer.sku, category=offer.category, discount_pct=offer.discount_pct,
            discount_cents=offer.discount_cents))
    return held


def _catalog(engine: Engine, merchant_id: str) -> dict[str, CatalogItem]:
    with Session(engine) as session:
        return {i.sku: i for i in session.exec(select(CatalogItem).where(
            col(CatalogItem.merchant_id) == merchant_id, col(CatalogItem.active))).all()}


def day_sales(engine: Engine, guests: dict[int, SimGuest], held: dict[int, list[HeldOffer]], *, seed: int,
              day_start: datetime, merchant_id: str = MERCHANT_ID) -> list[dict[str, Any]]:
    """The sales of the day starting at `day_start`: who came in, what they ordered, which codes they used."""
    catalog = _catalog(engine, merchant_id)
    sales = []
    for guest in guests.values():
        visit = respond(guest, held.get(guest.customer_id, []), seed=seed, day_start=day_start)
        if visit is not None:
            at, used = visit
            sales.append(_sale(guest, used, catalog, at=at, key=f"{seed}:{guest.customer_id}:{day_start.date()}"))
    return sales


def respond(guest: SimGuest, offers: Sequence[HeldOffer], *, seed: int, day_start: datetime
            ) -> tuple[datetime, list[HeldOffer]] | None:
    """Whether the guest comes in on this day, and if so when and with which codes (None: stays away).
    A guest may present a code already used (the till records it as `already_redeemed`)."""
    rng = day_rng(seed, guest.customer_id, day_start.date())
    if not draw_visit(rng, hazard(guest.profile, day_start, offers)):
        return None
    at = day_start + timedelta(hours=rng.uniform(1, 23))
    return at, [o for o in offers if o.active(day_start) and draw_redeem(rng, o)]


def draw_outcomes(guests: dict[int, SimGuest], held: dict[int, list[HeldOffer]], customer_ids: Sequence[int], *,
                  campaign_id: str, seed: int, day_starts: Sequence[datetime]) -> tuple[int, int]:
    """(guests who came in, guests who redeemed the campaign's code) over these days under the draws of
    `seed`, without sending anything: what a simulation with that seed makes the report count, and, over many
    seeds, the distribution the report's interval is judged against."""
    visitors = redeemers = 0
    for customer_id in customer_ids:
        guest, offers = guests[customer_id], held.get(customer_id, [])
        visits = [v for day in day_starts if (v := respond(guest, offers, seed=seed, day_start=day)) is not None]
        visitors += bool(visits)
        redeemers += any(o.campaign_id == campaign_id for _at, used in visits for o in used)
    return visitors, redeemers


def _sale(guest: SimGuest, used: Sequence[HeldOffer], catalog: dict[str, CatalogItem], *, at: datetime,
          key: str) -> dict[str, Any]:
    lines: dict[str, int] = {}
    if guest.usual_sku in catalog:
        lines[guest.usual_sku] = 1  # type: ignore[index]
    discounts: list[dict[str, Any]] = []
    for offer in used:
        item = catalog.get(offer.sku or "") or min(
            (i for i in catalog.values() if i.category == offer.category), key=lambda i: i.price_cents, default=None)
        if item is None or offer.code is None:
            continue
        lines[item.sku] = lines.get(item.sku, 0) + (0 if item.sku in lines else 1)
        off = (item.price_cents if offer.discount_pct is None and offer.discount_cents is None
               else min(offer.discount_cents, item.price_cents) if offer.discount_cents is not None
               else round(item.price_cents * (offer.discount_pct or 0) / 100))
        discounts.append({"code": offer.code, "amount": {"amount": off, "currency": CURRENCY}})
    if not lines:  # a guest with no history orders the cheapest main
        main = min((i for i in catalog.values() if i.category == "mains"), key=lambda i: i.price_cents)
        lines[main.sku] = 1
    lines_cents = sum(catalog[sku].price_cents * n for sku, n in lines.items())
    total = lines_cents - sum(d["amount"]["amount"] for d in discounts)
    data: dict[str, Any] = {
        "id": "txn_sim_" + short_hash(key, 10),
        "location_id": guest.location_id,
        "customer_id": guest.pos_customer_id,
        "line_items": [{"sku": sku, "name": catalog[sku].name, "quantity": n, "price": catalog[sku].price_cents / 100}
                       for sku, n in lines.items()],
        "total_money": {"amount": total, "currency": CURRENCY},
    }
    if discounts:
        data["discounts"] = discounts
    return {"event": "sale.completed", "event_id": "evt_sim_" + short_hash(key, 10),
            "created_at": at.isoformat().replace("+00:00", "Z"), "data": data}


def window_days(campaign: Campaign, until: datetime) -> list[datetime]:
    """The starts of the simulated days inside the campaign's report window (up to `until`)."""
    if campaign.started_at is None:
        return []
    start = campaign.started_at
    end = min(start + timedelta(days=campaign.window_days), until)
    return [start + timedelta(days=d) for d in range(max(0, -(-int((end - start).total_seconds()) // 86400)))]


def campaign_truth(engine: Engine, guests: dict[int, SimGuest], held: dict[int, list[HeldOffer]], *,
                   campaign_id: str, until: datetime) -> dict[str, Any] | None:
    """What the campaign's report should find over its window's simulated days: each arm's expected visit and
    redemption rates given who was assigned and reached, and their difference (the true uplift)."""
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        recipients = lifecycle.recipients(session, campaign_id, arms=(lifecycle.TREATMENT, lifecycle.HOLDOUT))
    if campaign is None or campaign.started_at is None:
        return None
    days = window_days(campaign, until)
    rates: dict[str, dict[str, list[float]]] = {arm: {"visit": [], "redeem": []} for arm in
                                                (lifecycle.TREATMENT, lifecycle.HOLDOUT)}
    for recipient in recipients:
        guest = guests.get(recipient.customer_id)
        if guest is None:
            continue
        offers = held.get(guest.customer_id, [])
        own = next((o for o in offers if o.campaign_id == campaign_id), None)
        rates[recipient.arm]["visit"].append(visit_probability(guest.profile, days, offers))
        rates[recipient.arm]["redeem"].append(
            redeem_probability(guest.profile, days, offers, own) if own is not None else 0.0)
    t, h = rates[lifecycle.TREATMENT], rates[lifecycle.HOLDOUT]
    if not t["visit"] or not h["visit"]:
        return None
    return {
        "campaign_id": campaign_id,
        "days_simulated": len(days),
        "window_days": campaign.window_days,
        "visit_rate": {"treatment": fmean(t["visit"]), "holdout": fmean(h["visit"]),
                       "uplift": fmean(t["visit"]) - fmean(h["visit"])},
        "redemption_rate": {"treatment": fmean(t["redeem"]), "holdout": fmean(h["redeem"]),
                            "uplift": fmean(t["redeem"]) - fmean(h["redeem"])},
    }
