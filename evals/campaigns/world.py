"""One campaign case as a world in a fresh SQLite database, run through the real campaign path.

The world holds the merchant (sandbox menu, one location in New York), the case's guests with their visit
history, consents and prior offers, on a test clock at the case's time. The campaign is created, planned (as
the worker plans it) and approved through agent.campaigns.service and run by `CampaignRunner.run_due` with the
real offer agent (batch drafting and guardrails, offer-graph threads for execute and review, sandbox POS and
outbox). What each guest came to is read back from the rows the product wrote.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, col, select

from agent.campaigns import service
from agent.campaigns.run import CampaignRunner
from agent.campaigns.spec import CampaignSpec
from agent.facts import offer_id_for
from agent.review import ReviewConflict, ReviewError, ReviewForbidden
from agent.runner import build_agent
from core.settings import Settings
from db import campaigns as lifecycle
from db.clock import start_test_clock
from db.engine import make_engine, session_scope
from db.inbox import enqueue_event
from db.pseudonyms import make_pseudonym
from db.tables import (
    CampaignRecipient,
    CatalogItem,
    Customer,
    CustomerContact,
    InboxEvent,
    Location,
    Merchant,
    Offer,
    OutboundMessage,
    PosTransaction,
    TransactionLine,
)
from evals.campaigns.schema import CampaignCase, Guest
from evals.offers.world import _Template  # the migrated empty database every eval world copies
from loyalty_agent.worker import Worker
from sandbox.menu import MENU, MENU_BY_SKU

MERCHANT_ID = "m_eval"
LOCATION_ID = "loc_eval"
SECRET = "evals-campaign-pseudonyms"


@dataclass
class GuestResult:
    """What one guest came to: their recipient row, offer and messages."""

    name: str
    arm: str | None = None
    status: str | None = None
    offer_status: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        if self.arm is None:
            return "not_in_audience"
        if self.arm != lifecycle.TREATMENT:
            return "holdout" if self.offer_status is None and not self.messages else "holdout touched"
        if self.status == lifecycle.R_SKIPPED_FATIGUE:
            return "skipped_fatigue"
        if self.status == lifecycle.R_INELIGIBLE:
            return "ineligible_at_send"
        if self.offer_status is None:
            return "no_offer"
        return {"sent": "sent" if self.messages else "sent without a message", "pending_review": "escalated",
                "blocked": "blocked"}.get(self.offer_status, self.offer_status)


@dataclass
class CaseRun:
    case: CampaignCase
    guests: dict[str, list[GuestResult]] = field(default_factory=dict)  # guest name -> one result per copy
    preview: dict[str, Any] = field(default_factory=dict)
    review_outcome: str | None = None
    realtime_messages: int | None = None  # messages the sale after the run scheduled for the guest
    error: str | None = None


def _pos_id(guest: Guest, copy: int) -> str:
    return f"{guest.name}-{copy}"


def _write(case: CampaignCase, engine: Any) -> dict[str, list[int]]:
    now = case.clock
    ids: dict[str, list[int]] = {}
    with session_scope(engine) as s:
        s.add(Merchant(id=MERCHANT_ID, name="Harbor & Vine (campaign eval)"))
        s.flush()
        s.add(Location(id=LOCATION_ID, merchant_id=MERCHANT_ID, name="Harbor & Vine", timezone="America/New_York"))
        for item in MENU:
            s.add(CatalogItem(merchant_id=MERCHANT_ID, sku=item.sku, name=item.name, category=item.category,
                              subcategory=item.subcategory, price_cents=item.price_cents,
                              unit_cost_cents=item.unit_cost_cents, allergens=list(item.allergens),
                              contains_alcohol=item.contains_alcohol))
        start_test_clock(s, MERCHANT_ID, at=now)
        number = 0
        for guest in case.guests:
            for copy in range(guest.copies):
                pos_id = _pos_id(guest, copy)
                customer = Customer(
                    merchant_id=MERCHANT_ID, pos_customer_id=pos_id,
                    pseudonym=make_pseudonym(MERCHANT_ID, pos_id, SECRET),
                    tier=guest.tier, points=guest.points, consent_sms=guest.sms, consent_email=guest.email,
                    opted_out_at=now - timedelta(days=3) if guest.opted_out else None, age_verified=True,
                    birthday=guest.birthday, allergies=guest.allergies, timezone=guest.timezone,
                    home_location_id=LOCATION_ID, created_at=now - timedelta(days=500))
                s.add(customer)
                s.flush()
                assert customer.id is not None
                ids.setdefault(guest.name, []).append(customer.id)
                s.add(CustomerContact(customer_id=customer.id, given_name="Sam", family_name="Guest",
                                      phone="+14155550100" if guest.phone else None,
                                      email=f"{pos_id}@example.com" if guest.email else None))
                for run in guest.visits:
                    for days_ago in run.offsets():
                        number += 1
                        at = (now - timedelta(days=days_ago)).astimezone(ZoneInfo("America/New_York"))
                        if days_ago >= 1:  # dinner that day; a visit today keeps its exact time
                            at = at.replace(hour=19, minute=0, second=0, microsecond=0)
                        txn = PosTransaction(merchant_id=MERCHANT_ID, location_id=LOCATION_ID,
                                             pos_transaction_id=f"hist-{number}", customer_id=customer.id,
                                             occurred_at=at, total_cents=sum(MENU_BY_SKU[i].price_cents
                                                                             for i in run.items))
                        s.add(txn)
                        s.flush()
                        assert txn.id is not None
                        s.add_all(TransactionLine(transaction_id=txn.id, sku=i, name=MENU_BY_SKU[i].name,
                                                  unit_price_cents=MENU_BY_SKU[i].price_cents) for i in run.items)
                for k, prior in enumerate(guest.prior_offers):
                    at = now - timedelta(days=prior.days_ago)
                    offer_id = offer_id_for(f"prior-{pos_id}-{k}")
                    s.add(Offer(id=offer_id, merchant_id=MERCHANT_ID, customer_id=customer.id, event_id=f"prior-{k}",
                                trigger=prior.trigger, status=prior.status, offer_type="percent_off_item",
                                sku="SORBET-TRIO", discount_pct=10, channel=prior.channel, verdict="pass",
                                sms_text="Hi {first_name}, 10% off sorbet. Reply STOP to opt out",
                                scheduled_for=at, created_at=at, updated_at=at, decided_by="agent"))
                    if prior.status == "sent":
                        s.flush()
                        s.add(OutboundMessage(idempotency_key=f"prior-{pos_id}-{k}", offer_id=offer_id,
                                              customer_id=customer.id, channel=prior.channel,
                                              body="Hi {first_name}. Reply STOP to opt out", status="sent",
                                              scheduled_for=at, created_at=at, sent_at=at))
    return ids


def run_case(case: CampaignCase) -> CaseRun:
    directory = Path(tempfile.mkdtemp(prefix=f"evals-campaign-{case.id[:30]}-"))
    shutil.copyfile(_Template.path(), directory / "world.db")
    url = f"sqlite:///{directory / 'world.db'}"
    settings = Settings(data_dir=directory, database_url=url, pseudonym_secret=SECRET, pos_webhook_secret="evals",
                        default_merchant_id=MERCHANT_ID, index_on_start=False, llm_provider="offline")
    engine = make_engine(url)
    run = CaseRun(case)
    agent = build_agent(settings, engine, with_vectors=False)
    try:
        ids = _write(case, engine)
        spec = CampaignSpec.model_validate({"name": case.id, "kind": case.campaign.kind,
                                            "audience": {"rule": case.campaign.rule},
                                            "holdout_pct": case.campaign.holdout_pct, "channel": case.campaign.channel})
        created = service.create(agent.ctx, merchant_id=MERCHANT_ID, spec=spec, created_by="evals")
        campaign = service.plan(agent.ctx, created.id)  # as the worker plans it
        if campaign is None or campaign.status != "pending_approval":
            raise RuntimeError(f"campaign not planned: {campaign.status if campaign else 'not claimed'}"
                               f" {campaign.plan_error if campaign else ''}")
        run.preview = campaign.estimate
        service.approve(agent.ctx, campaign.id, merchant_id=MERCHANT_ID, approved_by="evals")
        CampaignRunner(agent).run_due(MERCHANT_ID, automatic=False)
        if case.review is not None:
            run.review_outcome = _review(agent, campaign.id, ids[case.review.guest][0], case.review.role)
        if case.sale_after_hours is not None:
            run.realtime_messages = _sale_after(case, settings, engine, agent, ids[case.guests[0].name][0])
        _read_back(run, engine, campaign.id, ids)
    except Exception as exc:  # an evaluator error fails the case, never the suite's gates silently
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        agent.close()
        engine.dispose()
        shutil.rmtree(directory, ignore_errors=True)
    return run


def _review(agent: Any, campaign_id: str, customer_id: int, role: str) -> str:
    offer_id = offer_id_for(lifecycle.recipient_event_id(campaign_id, customer_id))
    try:
        return str(agent.review(offer_id, {"action": "accept", "reviewer": "eval", "role": role}))
    except (ReviewForbidden, ReviewError, ReviewConflict):
        return "refused"


def _sale_after(case: CampaignCase, settings: Settings, engine: Any, agent: Any, customer_id: int) -> int:
    """A sale by the guest `sale_after_hours` after the run, through the worker and the offer graph."""
    at = case.clock + timedelta(hours=case.sale_after_hours or 0)
    agent.ctx.clock = lambda: at
    pos_id = _pos_id(case.guests[0], 0)
    payload: dict[str, Any] = {
        "event": "sale.completed", "event_id": f"evt-after-{case.id}"[:120], "created_at": at.isoformat(),
        "data": {"id": f"txn-after-{case.id}"[:120], "location_id": LOCATION_ID, "customer_id": pos_id,
                 "line_items": [{"sku": "SALMON-ENTREE", "name": "Salmon", "quantity": 1, "price": "27.95"}],
                 "total_money": {"amount": 2795, "currency": "USD"}}}
    with session_scope(engine) as s:
        event_id = enqueue_event(s, provider="pos", provider_event_id=payload["event_id"], event_type=payload["event"],
                                 payload=payload, merchant_id=MERCHANT_ID).event_id
        s.execute(update(InboxEvent).where(col(InboxEvent.id) == event_id).values(received_at=at))
    Worker(engine, settings, offer_runner=agent.run_event, worker_id="evals").run_once()
    with Session(engine) as s:
        event = s.get(InboxEvent, event_id)
        if event is None or event.status != "done":
            raise RuntimeError(f"the sale after the campaign did not complete: {event.last_error if event else None}")
        offers = s.exec(select(Offer.id).where(col(Offer.event_id) == event_id)).all()
        return len(s.exec(select(OutboundMessage).where(col(OutboundMessage.offer_id).in_(offers))).all())


def _read_back(run: CaseRun, engine: Any, campaign_id: str, ids: dict[str, list[int]]) -> None:
    with Session(engine) as s:
        recipients = {r.customer_id: r for r in s.exec(
            select(CampaignRecipient).where(col(CampaignRecipient.campaign_id) == campaign_id))}
        for name, customer_ids in ids.items():
            results = []
            for customer_id in customer_ids:
                recipient = recipients.get(customer_id)
                offer = s.exec(select(Offer).where(col(Offer.customer_id) == customer_id,
                                                   col(Offer.campaign_id) == campaign_id)).first()
                messages = s.exec(select(OutboundMessage).where(
                    col(OutboundMessage.offer_id) == offer.id)).all() if offer is not None else []
                results.append(GuestResult(
                    name=name, arm=recipient.arm if recipient else None, status=recipient.status if recipient else None,
                    offer_status=offer.status if offer else None,
                    messages=[{"channel": m.channel, "scheduled_for": m.scheduled_for, "status": m.status}
                              for m in messages]))
            run.guests[name] = results
