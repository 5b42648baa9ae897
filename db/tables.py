"""SQLModel tables.

Money is stored in integer cents. Every datetime is timezone-aware (UTC at rest).
Contact PII lives only in `customer_contact`, read by the sending tools and manager views.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from db.types import UTCDateTime, utcnow


def _ts(*, nullable: bool = True, index: bool = False) -> Any:
    """An optional timezone-aware timestamp column."""
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def _json(default: Any = None, *, nullable: bool = True) -> Any:
    if callable(default):
        return Field(default_factory=default, sa_column=Column(JSON, nullable=nullable))
    return Field(default=default, sa_column=Column(JSON, nullable=nullable))


class Merchant(SQLModel, table=True):
    __tablename__ = "merchant"
    id: str = Field(primary_key=True, max_length=64)
    name: str
    # ISO 4217; every sale, discount and offer amount of this merchant is in it (core.events.sale_refusal).
    currency: str = Field(default="USD", max_length=3, sa_column_kwargs={"server_default": "USD"})
    created_at: datetime = _created()


class Location(SQLModel, table=True):
    __tablename__ = "location"
    id: str = Field(primary_key=True, max_length=64)
    merchant_id: str = Field(foreign_key="merchant.id", index=True)
    name: str
    timezone: str = "America/New_York"
    # "allowed": alcohol offers allowed (still subject to age + opt-in); "forbidden": never.
    alcohol_policy: str = "allowed"
    created_at: datetime = _created()


class CatalogItem(SQLModel, table=True):
    __tablename__ = "catalog_item"
    __table_args__ = (UniqueConstraint("merchant_id", "sku", name="uq_catalog_merchant_sku"),)
    id: int | None = Field(default=None, primary_key=True)
    merchant_id: str = Field(foreign_key="merchant.id", index=True)
    sku: str = Field(max_length=64)
    name: str
    category: str = Field(index=True)  # starters | mains | desserts | drinks | brunch | kids | sides
    subcategory: str | None = None  # e.g. wine, beer, cocktail, coffee
    price_cents: int
    unit_cost_cents: int
    allergens: list[str] = _json(list, nullable=False)
    contains_alcohol: bool = False
    active: bool = True
    description: str | None = None


class Customer(SQLModel, table=True):
    __tablename__ = "customer"
    __table_args__ = (UniqueConstraint("merchant_id", "pos_customer_id", name="uq_customer_merchant_pos"),)
    id: int | None = Field(default=None, primary_key=True)
    merchant_id: str = Field(foreign_key="merchant.id", index=True)
    pos_customer_id: str = Field(max_length=128)
    pseudonym: str = Field(unique=True, max_length=64)  # stable, non-reversible reference shown to models/views
    tier: str = "member"  # member | silver | gold | vip
    points: int = 0
    consent_sms: bool = False
    consent_email: bool = False
    consent_alcohol_marketing: bool = False
    opted_out_at: datetime | None = _ts()  # STOP-style global opt-out
    age_verified: bool = False
    birthday: date | None = None
    # None = unknown (NOT the same as "no allergies"); [] = known to have none.
    allergies: list[str] | None = _json(None)
    timezone: str = "America/New_York"
    home_location_id: str | None = None
    profile_version: int = 0  # bumped on every change that alters the profile document
    created_at: datetime = _created()
    updated_at: datetime = _created()


class CustomerContact(SQLModel, table=True):
    """Contact PII. Never read by the agent's model-facing code."""

    __tablename__ = "customer_contact"
    customer_id: int = Field(foreign_key="customer.id", primary_key=True)
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    phone: str | None = None
    notes: str | None = Field(default=None, sa_type=Text)
    updated_at: datetime = _created()


class PosTransaction(SQLModel, table=True):
    __tablename__ = "pos_transaction"
    __table_args__ = (UniqueConstraint("merchant_id", "pos_transaction_id", name="uq_txn_merchant_pos"),)
    id: int | None = Field(default=None, primary_key=True)
    merchant_id: str = Field(foreign_key="merchant.id", index=True)
    location_id: str = Field(foreign_key="location.id")
    pos_transaction_id: str = Field(max_length=128)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    occurred_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    total_cents: int
    currency: str = "USD"
    party_size: int | None = None
    source_event_id: str | None = Field(default=None, index=True)
    created_at: datetime = _created()


class TransactionLine(SQLModel, table=True):
    __tablename__ = "transaction_line"
    id: int | None = Field(default=None, primary_key=True)
    transaction_id: int = Field(foreign_key="pos_transaction.id", index=True)
    sku: str = Field(max_length=64, index=True)
    name: str
    quantity: int = 1
    unit_price_cents: int


class InboxEvent(SQLModel, table=True):
    """Durable webhook inbox: one row per provider event, deduplicated on (provider, provider_event_id)."""

    __tablename__ = "inbox_event"
    __table_args__ = (
        UniqueConstraint("provider", "provider_event_id", name="uq_inbox_provider_event"),
        Index("ix_inbox_claim", "status", "next_attempt_at"),
    )
    id: str = Field(primary_key=True, max_length=64)
    provider: str = Field(max_length=32)
    provider_event_id: str = Field(max_length=255)
    event_type: str = Field(max_length=64)
    merchant_id: str | None = None
    payload: dict[str, Any] = _json(dict, nullable=False)
    status: str = Field(default="queued", max_length=16)  # queued | processing | done | failed
    outcome: str | None = None  # sent | pending_review | blocked | no_offer | recorded
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    locked_by: str | None = None
    locked_until: datetime | None = _ts()
    next_attempt_at: datetime = _created()
    received_at: datetime = _created()
    processed_at: datetime | None = _ts()


class Offer(SQLModel, table=True):
    __tablename__ = "offer"
    id: str = Field(primary_key=True, max_length=64)
    merchant_id: str = Field(foreign_key="merchant.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    event_id: str | None = Field(default=None, index=True)  # correlation id (inbox event / campaign)
    transaction_id: int | None = Field(default=None, foreign_key="pos_transaction.id")
    campaign_id: str | None = None
    trigger: str = "transaction"  # transaction | campaign
    # Lifecycle and its transitions: db/offers.py (the only writer of `status`).
    status: str = Field(default="drafted", index=True, max_length=24)
    strategy: str | None = None  # favourite | complement | win_back | birthday | bonus_points
    offer_type: str  # percent_off_item | amount_off_item | bonus_points | free_item | percent_off_category
    sku: str | None = None
    category: str | None = None
    discount_pct: float | None = None
    discount_cents: int | None = None
    bonus_points: int | None = None
    offer_value_cents: int = 0
    expires_in_days: int | None = None
    expires_at: datetime | None = _ts()
    channel: str = "sms"  # sms | email
    sms_text: str | None = Field(default=None, sa_type=Text)
    email_subject: str | None = None
    email_body: str | None = Field(default=None, sa_type=Text)
    rationale: str | None = Field(default=None, sa_type=Text)
    confidence: float | None = None
    model: str | None = None
    prompt_version: str | None = None
    fallback_reason: str | None = None
    verdict: str | None = None  # pass | block | escalate (combined)
    verdicts: list[dict[str, Any]] = _json(list, nullable=False)
    promo_code: str | None = None
    scheduled_for: datetime | None = _ts()
    decided_by: str | None = None  # whose decision executed or rejected it: agent | reviewer:<key id>
    reviewed_by_marketer: str | None = None  # reviewer:<key id> whose copy edit awaits a manager's accept
    review_locked_by: str | None = None  # reviewer holding the `reviewing` lease
    reviewing_until: datetime | None = _ts()  # end of that lease
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Review(SQLModel, table=True):
    __tablename__ = "review"
    id: int | None = Field(default=None, primary_key=True)
    offer_id: str = Field(foreign_key="offer.id", index=True)
    action: str  # accept | edit | reject
    edits: dict[str, Any] = _json(dict, nullable=False)
    note: str | None = Field(default=None, sa_type=Text)
    reviewer: str
    created_at: datetime = _created()


class OutboundMessage(SQLModel, table=True):
    __tablename__ = "outbound_message"
    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, max_length=128)
    offer_id: str | None = Field(default=None, foreign_key="offer.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    channel: str
    subject: str | None = None
    # Body as drafted, with pseudonymous placeholders; re-identified only by the sending tool at send time.
    body: str = Field(sa_type=Text)
    status: str = Field(default="scheduled", index=True)  # scheduled | sending | sent | failed | suppressed
    scheduled_for: datetime = _created()
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    provider_message_id: str | None = None
    created_at: datetime = _created()
    sent_at: datetime | None = _ts()


class PromoCode(SQLModel, table=True):
    __tablename__ = "promo_code"
    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, max_length=128)
    code: str = Field(unique=True, max_length=32)
    merchant_id: str = Field(foreign_key="merchant.id")
    offer_id: str | None = Field(default=None, foreign_key="offer.id", index=True)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    sku: str | None = None
    category: str | None = None
    discount_pct: float | None = None
    discount_cents: int | None = None
    expires_at: datetime | None = _ts()
    pos_reference: str | None = None
    attached_at: datetime | None = _ts()
    redeemed_at: datetime | None = _ts()
    created_at: datetime = _created()


class LoyaltyLedger(SQLModel, table=True):
    __tablename__ = "loyalty_ledger"
    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, max_length=128)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    delta: int
    reason: str
    transaction_id: int | None = Field(default=None, foreign_key="pos_transaction.id")
    offer_id: str | None = None
    created_at: datetime = _created()


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    correlation_id: str = Field(index=True, max_length=128)  # source event / transaction id
    offer_id: str | None = Field(default=None, index=True)
    node: str
    actor: str = "agent"  # agent | reviewer:<key id> | worker | system
    inputs_digest: str | None = None
    outputs: dict[str, Any] = _json(dict, nullable=False)
    model: str | None = None
    prompt_version: str | None = None
    verdicts: list[dict[str, Any]] | None = _json(None)
    created_at: datetime = _created()


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    id: int | None = Field(default=None, primary_key=True)
    prefix: str = Field(index=True, max_length=16)
    key_hash: str = Field(unique=True, max_length=128)
    role: str  # associate | marketer | manager | admin
    name: str | None = None
    created_at: datetime = _created()
    revoked_at: datetime | None = _ts()


class PromoRedemption(SQLModel, table=True):
    """A code presented at the till (a sale's `discounts`), and what it came to: `redeemed` (ours, valid, first
    use), `already_redeemed`, `expired`, or `foreign` (not a code of ours: the POS's own discounts). Written
    once per (sale, code) by db/redemptions.py."""

    __tablename__ = "promo_redemption"
    __table_args__ = (UniqueConstraint("transaction_id", "code", name="uq_redemption_txn_code"),)
    id: int | None = Field(default=None, primary_key=True)
    merchant_id: str = Field(foreign_key="merchant.id", index=True)
    transaction_id: int = Field(foreign_key="pos_transaction.id", index=True)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    code: str = Field(max_length=200)
    outcome: str = Field(max_length=24)  # redeemed | already_redeemed | expired | foreign
    promo_code_id: int | None = Field(default=None, foreign_key="promo_code.id", index=True)
    amount_cents: int = 0
    occurred_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    created_at: datetime = _created()


class Campaign(SQLModel, table=True):
    """Proactive outreach to an audience with a holdout. Lifecycle and transitions: db/campaigns.py."""

    __tablename__ = "campaign"
    __table_args__ = (UniqueConstraint("merchant_id", "automatic_key", name="uq_campaign_automatic"),)
    id: str = Field(primary_key=True, max_length=64)
    merchant_id: str = Field(foreign_key="merchant.id", index=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=24)  # next_visit | win_back | birthday | tier
    audience: dict[str, Any] = _json(dict, nullable=False)  # {"query": ...} | {"rule": {...}}
    audience_snapshot: list[int] | None = _json(None)  # query audiences: customer ids the search matched
    holdout_pct: float
    channel: str = Field(max_length=8)  # sms | email | auto
    send_at: datetime | None = _ts()
    window_days: int = 14
    salt: str = Field(max_length=64)  # the holdout split's salt, fixed for the campaign's life
    status: str = Field(default="planning", index=True, max_length=24)
    version: int = 1  # bumped by every change; an approval names the version it approved
    approved_version: int | None = None
    approved_by: str | None = None
    approved_at: datetime | None = _ts()
    created_by: str = Field(max_length=64)
    automatic_key: str | None = Field(default=None, max_length=64)  # kind:period of a policy-run campaign
    estimate: dict[str, Any] = _json(dict, nullable=False)  # the plan shown for approval ({} until planned)
    plan_attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # claims of this version's plan
    plan_error: str | None = Field(default=None, max_length=1000)  # why planning failed (the last attempt)
    started_at: datetime | None = _ts()  # the run's clock at its start: the report window opens here
    completed_at: datetime | None = _ts()
    locked_by: str | None = Field(default=None, max_length=128)
    locked_until: datetime | None = _ts()
    created_at: datetime = _created()
    updated_at: datetime = _created()


class CampaignRecipient(SQLModel, table=True):
    """One guest of a campaign's eligible audience: its arm (treatment, holdout, global_control) and what
    happened to it. Holdout rows are the "would have sent" record. Lifecycle: db/campaigns.py."""

    __tablename__ = "campaign_recipient"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id", name="uq_recipient_campaign_customer"),
        Index("ix_recipient_campaign_status", "campaign_id", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(foreign_key="campaign.id")
    customer_id: int = Field(foreign_key="customer.id", index=True)
    arm: str = Field(max_length=16)  # treatment | holdout | global_control
    bucket: int  # 0..9999 from hash(pseudonym, campaign salt)
    status: str = Field(max_length=24)
    reason: str | None = Field(default=None, sa_type=Text)
    event_id: str = Field(max_length=128)  # the decision's thread id and correlation id
    offer_id: str | None = Field(default=None, max_length=64)
    planned_at: datetime = Field(sa_type=UTCDateTime, nullable=False)  # assigned; "would have sent" for holdout
    decided_at: datetime | None = _ts()
    locked_until: datetime | None = _ts()


class MerchantClock(SQLModel, table=True):
    """A merchant whose time is simulated (the sandbox's test clock): campaigns of this merchant run and
    report at `now`, which only `loyalty-agent simulate` moves. Absent row = real time. db/clock.py."""

    __tablename__ = "merchant_clock"
    merchant_id: str = Field(foreign_key="merchant.id", primary_key=True, max_length=64)
    now: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = _created()


class WorkerHeartbeat(SQLModel, table=True):
    """One row per running inbox worker, touched every few seconds while its loop runs (db.heartbeats)."""

    __tablename__ = "worker_heartbeat"
    worker_id: str = Field(primary_key=True, max_length=255)
    beat_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
