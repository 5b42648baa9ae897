"""One offer case as a world in a fresh database, run through the real product.

`write_world` copies a migrated, empty SQLite database (migrated once per process) and writes the
case into it as the product would hold it: merchant, location, the catalog slice, the guest's
profile and contact row, past visits as transactions, prior offers with their messages, loose
messages. `run_world` then delivers the triggering sale as a `sale.completed` inbox event and lets
the real worker claim it, record the sale and call the real offer agent (`agent.runner.build_agent`:
profile update, retrieval, drafter, guardrails, execute with the sandbox POS and the outbox, durable
checkpointer). A review decision, when the case has one, goes through `OfferAgent.review`.

What comes back (`WorldRun`) is read from the places the product writes to: the inbox event's
outcome, the graph state (draft, report), the audit trail (trajectory and tool calls) and the rows
of every side effect (promo codes, outbox messages, loyalty ledger).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.facts import offer_id_for
from agent.review import ReviewConflict, ReviewError, ReviewForbidden
from agent.runner import OfferAgent, build_agent
from core.schemas import CatalogFact, CustomerFacts, GuardrailReport, OfferDraft
from core.settings import Settings
from db.engine import make_engine, migrate, session_scope
from db.inbox import enqueue_event
from db.pseudonyms import make_pseudonym
from db.tables import (
    AuditEvent,
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
from evals.offers.schema import OfferCase
from guardrails.engine import rules_disabled
from guardrails.policy import Policy, policy_from_mapping
from loyalty_agent.worker import Worker
from sandbox.menu import MENU, MENU_BY_SKU
from tools.marketing.outbox import deliver_due_messages
from tools.marketing.providers import SandboxMessagingProvider

MERCHANT_ID = "m_eval"
LOCATION_ID = "loc_eval"
PSEUDONYM_SECRET = "evals-world-pseudonyms"
REVIEWER = "eval-reviewer"

DrafterFactory = Callable[["World"], Any]  # returns an agent.drafting.Drafter, or None for the configured one


class _Template:
    """A migrated empty database, built once per process and copied for every world (a migration
    takes far longer than a file copy)."""

    _lock = threading.Lock()
    _path: Path | None = None

    @classmethod
    def path(cls) -> Path:
        with cls._lock:
            if cls._path is None:
                directory = Path(tempfile.mkdtemp(prefix="evals-template-"))
                path = directory / "template.db"
                migrate(f"sqlite:///{path}")
                make_engine(f"sqlite:///{path}").dispose()
                cls._path = path
            return cls._path


@dataclass
class World:
    """A case written into its own database, with the settings the product runs it under."""

    case: OfferCase
    directory: Path
    settings: Settings
    engine: Engine
    policy: Policy
    catalog: dict[str, CatalogFact]
    customer_id: int
    pos_customer_id: str
    pseudonym: str

    @property
    def known_pii(self) -> tuple[str, ...]:
        guest = self.case.guest
        return tuple(v for v in (guest.given_name, guest.family_name, guest.email, guest.phone, *guest.note_pii) if v)

    def facts(self) -> CustomerFacts:
        """The guest's rule-relevant facts as written (what the evaluators judge against)."""
        guest = self.case.guest
        return CustomerFacts(
            pseudonym=self.pseudonym,
            tier=guest.tier,
            age_verified=guest.age_verified,
            birthday=guest.birthday,
            allergies=guest.allergies,
            consent_sms=guest.consent_sms,
            consent_email=guest.consent_email,
            consent_alcohol_marketing=guest.consent_alcohol_marketing,
            opted_out=guest.opted_out,
            timezone=guest.timezone,
            location_alcohol_policy=self.case.location.alcohol_policy,
        )

    def local_date(self) -> date:
        """Today in the guest's zone (the policy's default zone when theirs is not a real one)."""
        try:
            zone = ZoneInfo(self.case.guest.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo(self.policy.quiet_hours.default_timezone)
        return self.case.now.astimezone(zone).date()


def world_catalog(case: OfferCase) -> dict[str, CatalogFact]:
    """The merchant's catalog in this world: the menu slice plus the case's extra items."""
    skus = case.catalog if case.catalog is not None else [item.sku for item in MENU]
    catalog = {sku: CatalogFact.model_validate(MENU_BY_SKU[sku], from_attributes=True) for sku in skus}
    for extra in case.extra_items:
        catalog[extra.sku] = CatalogFact(**extra.model_dump())
    return catalog


def write_world(case: OfferCase, directory: Path) -> World:
    """Write `case` into a fresh database under `directory` (which must exist and be empty)."""
    db_path = directory / "world.db"
    shutil.copyfile(_Template.path(), db_path)
    policy_path = directory / "policy.yaml"
    policy_path.write_text(yaml.safe_dump(case.policy), encoding="utf-8")
    policy = policy_from_mapping(case.policy, source=f"offer case {case.id}")
    settings = Settings(
        data_dir=directory,
        database_url=f"sqlite:///{db_path}",
        pseudonym_secret=PSEUDONYM_SECRET,
        pos_webhook_secret="evals",
        policy_file=policy_path,
        default_merchant_id=MERCHANT_ID,
        index_on_start=False,
        **_model_settings(),
    )
    engine = make_engine(settings.database_url)
    catalog = world_catalog(case)
    guest = case.guest
    pos_customer_id = f"guest-{case.id}"[:120]
    pseudonym = make_pseudonym(MERCHANT_ID, pos_customer_id, PSEUDONYM_SECRET)
    now = case.now
    with session_scope(engine) as session:
        session.add(Merchant(id=MERCHANT_ID, name="Harbor & Vine (eval world)"))
        session.flush()
        session.add(
            Location(
                id=LOCATION_ID,
                merchant_id=MERCHANT_ID,
                name="Harbor & Vine",
                timezone=case.location.timezone,
                alcohol_policy=case.location.alcohol_policy,
            )
        )
        for fact in catalog.values():
            session.add(CatalogItem(merchant_id=MERCHANT_ID, **fact.model_dump()))
        customer = Customer(
            merchant_id=MERCHANT_ID,
            pos_customer_id=pos_customer_id,
            pseudonym=pseudonym,
            tier=guest.tier,
            points=guest.points,
            consent_sms=guest.consent_sms,
            consent_email=guest.consent_email,
            consent_alcohol_marketing=guest.consent_alcohol_marketing,
            opted_out_at=now - timedelta(days=30) if guest.opted_out else None,
            age_verified=guest.age_verified,
            birthday=guest.birthday,
            allergies=guest.allergies,
            timezone=guest.timezone,
            home_location_id=LOCATION_ID,
            created_at=now - timedelta(days=400),
        )
        session.add(customer)
        session.flush()
        assert customer.id is not None
        customer_id = customer.id
        session.add(
            CustomerContact(
                customer_id=customer_id,
                given_name=guest.given_name,
                family_name=guest.family_name,
                email=guest.email,
                phone=guest.phone,
                notes=guest.notes,
            )
        )
        _write_visits(session, case, catalog, customer_id)
        _write_prior_offers(session, case, customer_id)
    return World(case, directory, settings, engine, policy, catalog, customer_id, pos_customer_id, pseudonym)


def _model_settings() -> dict[str, Any]:
    """Offline by default; with LLM_BASE_URL set, the OpenAI-compatible path against that endpoint,
    with a budget long enough that the eval measures the model rather than the offline fallback."""
    if not os.environ.get("LLM_BASE_URL"):
        return {"llm_provider": "offline"}
    return {"llm_provider": "openai", "decision_budget_s": float(os.environ.get("EVALS_DECISION_BUDGET_S", "120"))}


def _write_visits(session: Session, case: OfferCase, catalog: dict[str, CatalogFact], customer_id: int) -> None:
    zone = ZoneInfo(case.location.timezone)  # visits happen at the restaurant
    number = 0
    for run in case.visits:
        for k in range(run.count):
            days_ago = run.last_days_ago + k * run.every_days
            local = (case.now - timedelta(days=days_ago)).astimezone(zone)
            at = local.replace(hour=run.hour, minute=0, second=0, microsecond=0)
            number += 1
            txn = PosTransaction(
                merchant_id=MERCHANT_ID,
                location_id=LOCATION_ID,
                pos_transaction_id=f"hist-{number:04d}",
                customer_id=customer_id,
                occurred_at=at,
                total_cents=sum(catalog[sku].price_cents for sku in run.items),
            )
            session.add(txn)
            session.flush()
            assert txn.id is not None
            session.add_all(
                TransactionLine(
                    transaction_id=txn.id,
                    sku=sku,
                    name=catalog[sku].name,
                    unit_price_cents=catalog[sku].price_cents,
                )
                for sku in run.items
            )


def _write_prior_offers(session: Session, case: OfferCase, customer_id: int) -> None:
    for number, prior in enumerate(case.prior_offers, start=1):
        at = case.now - timedelta(days=prior.days_ago)
        offer_id = offer_id_for(f"prior-{case.id}-{number}")
        session.add(
            Offer(
                id=offer_id,
                merchant_id=MERCHANT_ID,
                customer_id=customer_id,
                event_id=f"prior-{number}",
                trigger=prior.trigger,
                status=prior.status,
                strategy=prior.strategy,
                offer_type=prior.offer_type,
                sku=prior.sku,
                discount_pct=prior.discount_pct,
                channel=prior.channel,
                sms_text="Hi {first_name}, a little something for you. Reply STOP to opt out",
                verdict="pass" if prior.status == "sent" else None,
                scheduled_for=at,
                decided_by="agent",
                created_at=at,
                updated_at=at,
            )
        )
        if prior.status == "sent":
            session.flush()
            session.add(_sent_message(f"prior-offer-{number}", customer_id, prior.channel, at, offer_id))
    for number, message in enumerate(case.prior_messages, start=1):
        at = case.now - timedelta(days=message.days_ago)
        session.add(_sent_message(f"prior-message-{number}", customer_id, message.channel, at, None))


def _sent_message(key: str, customer_id: int, channel: str, at: datetime, offer_id: str | None) -> OutboundMessage:
    return OutboundMessage(
        idempotency_key=key,
        offer_id=offer_id,
        customer_id=customer_id,
        channel=channel,
        subject="News from Harbor & Vine" if channel == "email" else None,
        body="Hi {first_name}, news from Harbor & Vine. Reply STOP to opt out",
        status="sent",
        scheduled_for=at,
        created_at=at,
        sent_at=at,
    )


def sale_event(world: World) -> dict[str, Any]:
    """The triggering sale as the POS webhook delivers it (generic `sale.completed`)."""
    case = world.case
    lines = [
        {
            "sku": sku,
            "name": case.sale.line_names.get(sku, world.catalog[sku].name),
            "quantity": 1,
            "price": str(Decimal(world.catalog[sku].price_cents) / 100),
        }
        for sku in case.sale.items
    ]
    total = sum(world.catalog[sku].price_cents for sku in case.sale.items)
    return {
        "event": "sale.completed",
        "event_id": f"evt_{case.id}"[:120],
        "created_at": (case.now - timedelta(minutes=case.sale.minutes_ago)).isoformat(),
        "data": {
            "id": f"txn_{case.id}"[:120],
            "location_id": LOCATION_ID,
            "customer_id": world.pos_customer_id,
            "line_items": lines,
            "total_money": {"amount": total, "currency": "USD"},
        },
    }


# --------------------------------------------------------------------------------------------- running


@dataclass
class WorldRun:
    """What one world produced, read back from where the product wrote it."""

    world: World
    drafter: str
    outcome: str | None = None  # the inbox event's outcome after the run (and review)
    first_outcome: str | None = None  # before any review
    review_refused: str | None = None  # the product refused the case's review decision (and why)
    event_status: str | None = None
    error: str | None = None
    drafted: OfferDraft | None = None  # the drafter's own draft, before any reviewer edit
    draft: OfferDraft | None = None  # the draft as it ended (what executed, if anything did)
    report: GuardrailReport | None = None
    trajectory: list[str] = field(default_factory=list)  # audit nodes in order, tools as "tool:<name>"
    offer: dict[str, Any] | None = None
    promo_codes: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)  # as the guest receives them (name filled in)
    draft_input_json: str = ""  # what the drafter was given (the model's whole view of the guest)
    model_requests: list[str] = field(default_factory=list)  # raw request bodies, when a capturing server serves

    @property
    def effects(self) -> int:
        """Side effects of this decision: promo codes, outbox messages and points credited."""
        return len(self.promo_codes) + len(self.messages) + len(self.ledger)

    @property
    def reached_guest(self) -> bool:
        return self.effects > 0


def run_world(
    world: World,
    *,
    drafter: Any = None,
    disabled_rules: frozenset[str] = frozenset(),
    pseudonymizer: Any = None,
    drafter_name: str = "configured",
    captured_requests: Callable[[], list[str]] | None = None,
) -> WorldRun:
    """Deliver the case's sale to the real worker and offer agent; apply the review, if any."""
    case = world.case
    run = WorldRun(world=world, drafter=drafter_name)
    agent = build_agent(world.settings, world.engine, with_vectors=False)
    try:
        agent.ctx.clock = lambda: case.now
        if drafter is not None:
            agent.ctx.drafter = drafter
        if pseudonymizer is not None:
            agent.ctx.pseudonymizer = pseudonymizer
        payload = sale_event(world)
        with session_scope(world.engine) as session:
            event_id = enqueue_event(
                session,
                provider="pos",
                provider_event_id=payload["event_id"],
                event_type=payload["event"],
                payload=payload,
                merchant_id=MERCHANT_ID,
            ).event_id
            # The webhook received it at the world's clock (lateness is judged from the inbox row's time).
            session.execute(update(InboxEvent).where(col(InboxEvent.id) == event_id).values(received_at=case.now))
        worker = Worker(world.engine, world.settings, offer_runner=agent.run_event, worker_id="evals")
        with rules_disabled(disabled_rules):
            worker.run_once()
            run.first_outcome = _event(world, event_id).outcome
            run.drafted = _state_draft(agent, event_id)
            if case.review is not None and run.first_outcome == "pending_review":
                run.review_refused = _review(world, agent, event_id, case)
        _read_back(run, agent, event_id)
        _deliver(run)
        if captured_requests is not None:
            run.model_requests = captured_requests()
    finally:
        agent.close()
    return run


def _event(world: World, event_id: str) -> InboxEvent:
    with Session(world.engine) as session:
        event = session.get(InboxEvent, event_id)
        assert event is not None
        return event


def _review(world: World, agent: OfferAgent, event_id: str, case: OfferCase) -> str | None:
    """Apply the case's review decision. A decision the product refuses (a marketer approving, an edit
    that does not validate) is part of the outcome, not a crash: returns the refusal."""
    assert case.review is not None
    with Session(world.engine) as session:
        offer = session.exec(select(Offer).where(col(Offer.event_id) == event_id)).one()
    decision = {
        "action": case.review.action,
        "edits": case.review.edits,
        "reviewer": REVIEWER,
        "role": case.review.role,
        "note": case.review.note,
    }
    try:
        agent.review(offer.id, decision)
    except (ReviewError, ReviewForbidden, ReviewConflict) as exc:  # refused: nothing applied
        return f"{type(exc).__name__}: {exc}"
    return None


def _state_draft(agent: OfferAgent, event_id: str) -> OfferDraft | None:
    values = agent.graph.get_state(agent.config(event_id)).values or {}
    return OfferDraft.model_validate(values["draft"]) if values.get("draft") else None


def _read_back(run: WorldRun, agent: OfferAgent, event_id: str) -> None:
    engine = run.world.engine
    event = _event(run.world, event_id)
    run.outcome, run.event_status = event.outcome, event.status
    if event.status != "done":
        run.error = f"inbox event {event.status}: {event.last_error}"
    values = agent.graph.get_state(agent.config(event_id)).values or {}
    run.draft_input_json = json.dumps(values.get("draft_input") or {}, sort_keys=True)
    if values.get("draft"):
        run.draft = OfferDraft.model_validate(values["draft"])
    if values.get("report"):
        run.report = GuardrailReport.model_validate(values["report"])
    with Session(engine) as session:
        audits = session.exec(
            select(AuditEvent).where(col(AuditEvent.correlation_id) == event_id).order_by(col(AuditEvent.id))
        ).all()
        run.trajectory = [a.node for a in audits]
        offer = session.exec(select(Offer).where(col(Offer.event_id) == event_id)).first()
        if offer is not None:
            run.offer = offer.model_dump(mode="json")
            run.promo_codes = [
                p.model_dump(mode="json")
                for p in session.exec(select(PromoCode).where(col(PromoCode.offer_id) == offer.id))
            ]
            run.messages = [
                m.model_dump(mode="json")
                for m in session.exec(select(OutboundMessage).where(col(OutboundMessage.offer_id) == offer.id))
            ]
            run.ledger = [
                entry.model_dump(mode="json")
                for entry in session.exec(select(LoyaltyLedger).where(col(LoyaltyLedger.offer_id) == offer.id))
            ]


def _deliver(run: WorldRun) -> None:
    """Let the sender deliver this decision's messages when they fall due; keep what the guest got."""
    if not run.messages:
        return
    provider = SandboxMessagingProvider()
    due = max(datetime.fromisoformat(m["scheduled_for"]) for m in run.messages)
    deliver_due_messages(run.world.engine, provider=provider, now=max(due, run.world.case.now))
    run.deliveries = [
        {"channel": d.channel, "to": d.to, "subject": d.subject, "body": d.body} for d in provider.deliveries
    ]
