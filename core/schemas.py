"""Domain types shared across layers (agent, guardrails, tools, profiles).

Kept free of database and LLM imports so guardrails can depend on them without
pulling in either.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

OfferType = Literal[
    "percent_off_item",  # discount_pct off one sku
    "amount_off_item",  # discount_cents off one sku
    "free_item",  # one sku free (value = price)
    "percent_off_category",  # discount_pct off any item in a category
    "bonus_points",  # bonus_points loyalty points on next visit
]
Channel = Literal["sms", "email"]
Verdict = Literal["pass", "block", "escalate"]


# Upper bounds of an offer, whoever writes it (model, offline drafter, a reviewer's edit). They keep
# absurd values (bonus_points 10**19) out of the arithmetic, the POS and the database as a validation
# error; the merchant policy sets the real, much lower limits and the guardrails enforce those.
MAX_DISCOUNT_CENTS = 1_000_000  # $10,000
MAX_BONUS_POINTS = 1_000_000
MAX_EXPIRES_IN_DAYS = 90
# Copy is plain text (no markup) with the {first_name}/{promo_code} placeholders. SMS: ten segments at
# most here, the policy's `sms.max_length` is the real limit (copy rule). Subject: the most any policy
# may allow. Body: a few KB.
MAX_SMS_TEXT_CHARS = 1600
MAX_EMAIL_SUBJECT_CHARS = 120
MAX_EMAIL_BODY_CHARS = 5000
MAX_RATIONALE_CHARS = 4000


class OfferDraft(BaseModel):
    """What the drafting model (or the offline drafter) proposes. Everything here is untrusted
    until the guardrails have checked it against catalog facts and policy; the bounds below only keep
    values sane (see the constants above), they are not the merchant's limits."""

    make_offer: bool = Field(description="False when no offer fits this customer right now.")
    offer_type: OfferType | None = None
    sku: str | None = Field(default=None, max_length=100, description="Catalog sku the offer is centred on.")
    category: str | None = Field(default=None, max_length=100, description="Catalog category for category offers.")
    discount_pct: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    discount_cents: int | None = Field(default=None, ge=0, le=MAX_DISCOUNT_CENTS)
    bonus_points: int | None = Field(default=None, ge=0, le=MAX_BONUS_POINTS)
    expires_in_days: int = Field(default=14, ge=1, le=MAX_EXPIRES_IN_DAYS)
    channel: Channel = "sms"
    sms_text: str | None = Field(
        default=None,
        max_length=MAX_SMS_TEXT_CHARS,
        description="SMS copy, plain text; may use {first_name} and {promo_code}.",
    )
    email_subject: str | None = Field(default=None, max_length=MAX_EMAIL_SUBJECT_CHARS)
    email_body: str | None = Field(
        default=None,
        max_length=MAX_EMAIL_BODY_CHARS,
        description="Email copy, plain text; may use {first_name}, {promo_code}.",
    )
    rationale: str = Field(default="", max_length=MAX_RATIONALE_CHARS)
    confidence: float = Field(default=0.5, ge=0, le=1, allow_inf_nan=False)
    strategy: str | None = Field(
        default=None, max_length=40, description="favourite | complement | win_back | birthday | ..."
    )
    # Claims a model may make ("this dish is nut-free"); recorded, never trusted by the guardrails.
    claims: list[Annotated[str, Field(max_length=300)]] = Field(default_factory=list, max_length=20)


class CatalogFact(BaseModel):
    sku: str
    name: str
    category: str
    subcategory: str | None = None
    price_cents: int
    unit_cost_cents: int
    allergens: list[str] = Field(default_factory=list)
    contains_alcohol: bool = False
    active: bool = True


class CustomerFacts(BaseModel):
    """Non-PII facts the guardrails need about the customer (keyed by pseudonym)."""

    pseudonym: str
    tier: str = "member"
    age_verified: bool = False
    birthday: date | None = None
    allergies: list[str] | None = None  # None = unknown
    consent_sms: bool = False
    consent_email: bool = False
    consent_alcohol_marketing: bool = False
    opted_out: bool = False
    timezone: str = "America/New_York"
    location_alcohol_policy: str = "allowed"  # allowed | forbidden
    clv_cents: int = 0
    visits_12m: int = 0
    spend_12m_cents: int = 0


class OfferHistoryEntry(BaseModel):
    """A past offer or message to this customer, from any trigger or campaign."""

    at: datetime
    channel: Channel
    offer_type: str | None = None
    status: str = "sent"  # sent | scheduled | pending_review
    trigger: str = "transaction"
    strategy: str | None = None  # the drafter's strategy, for offers (none for loose messages)


class GuardrailResult(BaseModel):
    """One rule's typed verdict; every one of them is stored in the audit trail."""

    rule: str
    verdict: Verdict
    reason: str
    evidence: dict[str, Any] = Field(default_factory=dict)


class GuardrailReport(BaseModel):
    """The combination of all rule verdicts: any block -> block; else any escalate -> escalate."""

    verdict: Verdict
    results: list[GuardrailResult]
    send_at: datetime | None = Field(default=None, description="Deferred send time (quiet hours), UTC.")

    @property
    def blocking(self) -> list[GuardrailResult]:
        return [r for r in self.results if r.verdict == "block"]

    @property
    def escalating(self) -> list[GuardrailResult]:
        return [r for r in self.results if r.verdict == "escalate"]
