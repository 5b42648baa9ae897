"""A small restaurant for the review-path tests: one location, a dairy dish, a wine, a salad; guests with
known consents; the real offer graph (SQLite/PostgreSQL, LangGraph checkpointer, guardrails, sandbox POS,
outbox). The drafter is the one double: it answers like a hosted model would, with a fixed offer."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.checkpointer import make_checkpointer
from agent.context import AgentContext
from agent.drafting import DraftInput, DraftResult
from agent.read_tools import ReadToolContext
from agent.runner import OfferAgent
from core.events import Consent, CustomerData
from core.schemas import OfferDraft
from db.engine import session_scope
from db.inbox import enqueue_event
from db.ingest import RecordedSale, upsert_customer
from db.tables import (
    CatalogItem,
    Customer,
    CustomerContact,
    InboxEvent,
    Location,
    LoyaltyLedger,
    Merchant,
    Offer,
    OutboundMessage,
    PosTransaction,
    PromoCode,
    TransactionLine,
)
from guardrails.policy import load_policy
from tests.integration.conftest import make_settings
from tools.pos.sandbox import SandboxPos

NOW = datetime(2026, 11, 20, 18, 30, tzinfo=UTC)  # 13:30 in New York, 03:30 in Tokyo (quiet hours)
MERCHANT = "m_sandbox"
LOCATION = "loc_1"
MANAGER = {"reviewer": 1, "role": "manager"}
OTHER_MANAGER = {"reviewer": 3, "role": "manager"}
MARKETER = {"reviewer": 2, "role": "marketer"}
# Every guest's offers go to review, so each test has a decision waiting for a person.
REVIEW_EVERYONE = "escalation:\n  high_value_tiers: [member, silver, gold, vip]\n"

MAC = OfferDraft(
    make_offer=True, offer_type="percent_off_item", sku="MAC-CHEESE", discount_pct=10.0, channel="sms",
    sms_text="Hi {first_name}, 10% off our Mac & Cheese this week. Code {promo_code}. Reply STOP to opt out",
    rationale="favourite dish", confidence=0.9, strategy="favourite",
)
WINE = OfferDraft(
    make_offer=True, offer_type="percent_off_item", sku="HOUSE-RED", discount_pct=10.0, channel="sms",
    sms_text="Hi {first_name}, 10% off a glass of House Red this week. Code {promo_code}. Reply STOP to opt out",
    rationale="orders wine", confidence=0.9, strategy="favourite",
)
POINTS = OfferDraft(
    make_offer=True, offer_type="bonus_points", bonus_points=200, channel="sms",
    sms_text="Hi {first_name}, 200 bonus points are waiting on your next visit. Reply STOP to opt out",
    rationale="close to the next tier", confidence=0.9, strategy="bonus_points",
)


class ScriptedDrafter:
    """Stands in for the hosted model: answers every decision with the offer the test chose."""

    def __init__(self) -> None:
        self.offer = MAC

    def draft(self, inp: DraftInput, *, context: ReadToolContext | None = None) -> DraftResult:
        return DraftResult(offer=self.offer, model="scripted-model", prompt_version="test")


@dataclass
class World:
    engine: Engine
    agent: OfferAgent
    drafter: ScriptedDrafter
    clock: list[datetime] = field(default_factory=lambda: [NOW])
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    # -- set-up --------------------------------------------------------------------------------

    def guest(self, *, timezone: str = "America/New_York", **overrides: Any) -> int:
        """A guest who can be offered anything: consents given, age verified, no allergies."""
        n = next(self._ids)
        values: dict[str, Any] = {
            "merchant_id": MERCHANT, "pos_customer_id": f"cust_{n}", "pseudonym": f"g_review{n}",
            "consent_sms": True, "consent_email": True, "consent_alcohol_marketing": True, "age_verified": True,
            "birthday": date(1980, 5, 1), "allergies": [], "timezone": timezone,
            "home_location_id": LOCATION,
        }
        values.update(overrides)
        with session_scope(self.engine) as s:
            customer = Customer(**values)
            s.add(customer)
            s.flush()
            assert customer.id is not None
            s.add(CustomerContact(customer_id=customer.id, given_name="Ann", phone=f"+1415555{n:04d}",
                                  email=f"guest{n}@example.com"))
            return customer.id

    def pending_offer(self, customer_id: int, draft: OfferDraft = MAC) -> Offer:
        """Run a sale through the graph; the offer waits for review."""
        outcome, offer = self.decide(customer_id, draft)
        assert outcome == "pending_review", outcome
        assert offer is not None and offer.status == "pending_review"
        return offer

    def decide(self, customer_id: int, draft: OfferDraft) -> tuple[str, Offer | None]:
        n = next(self._ids)
        with session_scope(self.engine) as s:
            customer = s.get(Customer, customer_id)
            assert customer is not None
            txn = PosTransaction(merchant_id=MERCHANT, location_id=LOCATION, pos_transaction_id=f"txn_{n}",
                                 customer_id=customer_id, occurred_at=self.clock[0] - timedelta(minutes=30),
                                 total_cents=3000)
            s.add(txn)
            s.flush()
            assert txn.id is not None
            s.add(TransactionLine(transaction_id=txn.id, sku="SALAD", name="Salad", unit_price_cents=3000))
            event_id = enqueue_event(s, provider="pos", provider_event_id=f"evt_{n}", event_type="sale.completed",
                                     payload={"test": n}, merchant_id=MERCHANT).event_id
            recorded = RecordedSale(txn.id, customer_id, MERCHANT, created=True, source_event_id=event_id)
        with Session(self.engine) as s:
            event = s.get(InboxEvent, event_id)
        assert event is not None
        self.drafter.offer = draft
        outcome = self.agent.run_event(event, recorded)
        with session_scope(self.engine) as s:  # as the worker would on completion
            s.execute(InboxEvent.__table__.update().where(InboxEvent.__table__.c.id == event_id)  # type: ignore[attr-defined]
                      .values(status="done", outcome=outcome))
            offer = s.exec(select(Offer).where(col(Offer.event_id) == event_id)).first()
        return outcome, offer

    # -- what happens to a guest's profile -----------------------------------------------------

    def update_profile(self, customer_id: int, *, recheck: bool = True, **data: Any) -> list[Any]:
        """Record a customer.updated as the worker does (db.ingest.upsert_customer), then the re-check."""
        with Session(self.engine) as s:
            customer = s.get(Customer, customer_id)
            assert customer is not None
            pos_id = customer.pos_customer_id
        consent = {k: data.pop(k) for k in ("sms", "email", "alcohol_marketing") if k in data}
        payload = CustomerData(customer_id=pos_id, consent=Consent(**consent) if consent else None, **data)
        with session_scope(self.engine) as s:
            upsert_customer(s, data=payload, merchant_id=MERCHANT, pseudonym_secret="t")
        return self.agent.recheck_customer(customer_id) if recheck else []

    # -- what the tests look at ----------------------------------------------------------------

    def offer(self, offer_id: str) -> Offer:
        with Session(self.engine) as s:
            row = s.get(Offer, offer_id)
            assert row is not None
            return row

    def side_effects(self, offer_id: str) -> dict[str, int]:
        """Promo codes, points credits and messages that exist for this offer (any status)."""
        with Session(self.engine) as s:
            def n(model: Any, *where: Any) -> int:
                return int(s.exec(select(func.count()).select_from(model).where(*where)).one())

            return {
                "promo_codes": n(PromoCode, col(PromoCode.offer_id) == offer_id),
                "points": n(LoyaltyLedger, col(LoyaltyLedger.offer_id) == offer_id),
                "messages": n(OutboundMessage, col(OutboundMessage.offer_id) == offer_id),
            }

    def messages(self, customer_id: int) -> list[OutboundMessage]:
        with Session(self.engine) as s:
            return list(s.exec(select(OutboundMessage).where(col(OutboundMessage.customer_id) == customer_id)
                               .order_by(col(OutboundMessage.id))).all())


def build_world(database_url: str, engine: Engine, tmp_path: Path, *, policy_yaml: str = REVIEW_EVERYONE,
                pos: Any = None) -> World:
    with session_scope(engine) as s:
        s.add(Merchant(id=MERCHANT, name="Review Bistro"))
        s.flush()
        s.add(Location(id=LOCATION, merchant_id=MERCHANT, name="Main", timezone="America/New_York"))
        s.add_all([
            CatalogItem(merchant_id=MERCHANT, sku="MAC-CHEESE", name="Mac & Cheese", category="mains",
                        price_cents=1800, unit_cost_cents=500, allergens=["milk", "wheat"]),
            CatalogItem(merchant_id=MERCHANT, sku="HOUSE-RED", name="House Red", category="drinks",
                        subcategory="wine", price_cents=1200, unit_cost_cents=300, contains_alcohol=True),
            CatalogItem(merchant_id=MERCHANT, sku="SALAD", name="Salad", category="starters",
                        price_cents=1100, unit_cost_cents=300),
        ])
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(policy_yaml)
    settings = make_settings(database_url, tmp_path, policy_file=policy_file, review_lease_s=60)
    drafter = ScriptedDrafter()
    clock = [NOW]
    ctx = AgentContext(settings=settings, engine=engine, policy=load_policy(policy_file), drafter=drafter,
                       pos=pos if pos is not None else SandboxPos(engine), clock=lambda: clock[0])
    agent = OfferAgent(ctx, make_checkpointer(database_url, str(tmp_path)))
    return World(engine=engine, agent=agent, drafter=drafter, clock=clock)
