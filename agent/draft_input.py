"""What one drafting decision may look at (`DraftInput`), and the one function that assembles it.

`DraftInput` is plain pydantic so it travels through the graph's state as JSON. It is pseudonymous:
no contact PII. `assemble_draft_input` turns facts already queried (customer facts, profile
features, catalog, offer history, the sale, complements) and the merchant policy into it, with no I/O
of its own: retrieval calls it after its queries, and anything else that drafts (tests, benchmarks,
evals) goes through the same function, so consent, the catalog pre-filter, the history summary and
the limits mean the same everywhere.

Every limit a drafter writes to comes from the policy through `OfferLimits.from_policy`: SMS length
per encoding, placeholder budgets, opt-out text, email subject length, fatigue gaps and caps,
discount and value caps, the margin floor, the allergens excluded when allergies are unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from agent.campaigns.brief import CampaignBrief
from agent.facts import alcohol_eligible, days_until_birthday, eligible_catalog, excluded_categories
from core.schemas import CatalogFact, CustomerFacts, OfferHistoryEntry
from guardrails.local_time import customer_zone, next_allowed_send_time
from guardrails.policy import FatiguePolicy, Policy, SmsPolicy, default_policy

RECENT_DAYS = 30
MAX_COMPLEMENTS = 5
# History statuses of a message the guest has received or will receive (db.offers.HISTORY_STATUS).
DELIVERED_STATUSES = frozenset({"sent", "scheduled"})


class FavouriteItem(BaseModel):
    """One item the guest orders repeatedly, with its personal reorder rhythm."""

    sku: str
    name: str
    category: str
    count: int = Field(ge=0, description="Times ordered in the profile window.")
    last_ordered_days_ago: int | None = None
    typical_interval_days: float | None = None
    next_expected_in_days: float | None = Field(
        default=None, description="Days until the guest usually reorders it; negative = overdue."
    )


class DraftFeatures(BaseModel):
    """The subset of profile features the drafter reasons about (filled from profiles/)."""

    favourite_items: list[FavouriteItem] = Field(default_factory=list)
    favourite_categories: list[str] = Field(default_factory=list)
    visits_12m: int = 0
    avg_interval_days: float | None = None
    days_since_last_visit: int | None = None
    expected_next_visit_in_days: float | None = None
    churn_risk: float = Field(default=0.0, ge=0, le=1)
    p_alive: float = Field(default=1.0, ge=0, le=1)
    clv_cents: int = 0
    spend_per_visit_cents: int = 0
    lapsed: bool = False
    dessert_share: float = 0.0
    alcohol_share: float = 0.0
    brunch_share: float = 0.0
    weekend_share: float = 0.0
    birthday_in_days: int | None = None
    tier: str = "member"
    next_tier: str | None = None
    points_to_next_tier: int | None = None


class TransactionLine(BaseModel):
    """An item in the sale that triggered this decision."""

    sku: str
    name: str
    category: str


class Complement(BaseModel):
    """An item bought together with this guest's items by similar guests (vector store)."""

    sku: str
    name: str
    score: float = Field(ge=0)


class OfferHistorySummary(BaseModel):
    offers_last_30d: int = 0
    last_offer_days_ago: int | None = None
    last_offer_type: str | None = None
    last_offer_strategy: str | None = None


class ConsentSummary(BaseModel):
    """What the guest agreed to, as the drafter needs it.

    `alcohol_allowed` is the one flag the drafter obeys for alcohol: the caller computes it from
    facts the drafter never sees (age from the birthday, the location's alcohol policy), so the two
    informational flags next to it are not enough on their own. It defaults to False: a caller that
    forgets it gets no alcohol offers rather than unsafe ones.
    """

    sms: bool = False
    email: bool = False
    alcohol_marketing: bool = False
    age_verified: bool = False
    alcohol_allowed: bool = Field(
        default=False,
        description="Verified legal drinking age AND alcohol-marketing opt-in AND the location allows alcohol.",
    )


class OfferLimits(BaseModel):
    """The merchant policy's limits a draft is written to, so drafts aim inside them (the guardrails
    still enforce every one). Built only by `from_policy`: there are no defaults of its own."""

    model_config = ConfigDict(frozen=True)

    min_margin_pct: float
    max_discount_pct: float
    max_offer_value_cents: int
    free_item_max_price_cents: int
    point_value_cents: float
    # When the guest's allergies are unknown, items with these allergens are not drafted (the policy
    # blocks them); empty when the policy allows or escalates such offers instead. Canonical names.
    excluded_allergens_when_unknown: list[str]
    sms: SmsPolicy
    email_max_subject_length: int
    fatigue: FatiguePolicy

    @classmethod
    def from_policy(cls, policy: Policy) -> OfferLimits:
        lenient = policy.allow_unknown_allergy_offers_on_top9 or policy.unknown_allergy_action == "escalate"
        return cls(
            min_margin_pct=policy.min_margin_pct,
            max_discount_pct=policy.max_discount_pct,
            max_offer_value_cents=policy.max_offer_value_cents,
            free_item_max_price_cents=policy.free_item_max_price_cents,
            point_value_cents=policy.point_value_cents,
            excluded_allergens_when_unknown=[] if lenient else list(policy.top9_allergens),
            sms=policy.sms,
            email_max_subject_length=policy.email.max_subject_length,
            fatigue=policy.fatigue,
        )


def _default_limits() -> OfferLimits:
    return OfferLimits.from_policy(default_policy())


class DraftInput(BaseModel):
    """Everything one drafting decision may look at; pseudonymous, no contact PII."""

    pseudonym: str
    profile_document: str = Field(default="", description="Pseudonymized profile text.")
    features: DraftFeatures = Field(default_factory=DraftFeatures)
    transaction: list[TransactionLine] = Field(default_factory=list, description="Just bought; empty in campaigns.")
    campaign: CampaignBrief | None = Field(
        default=None, description="A campaign decision: the outreach it is for (kind, item, channel); None for a sale."
    )
    purchased_skus: list[str] = Field(default_factory=list, description="Every sku the guest ever bought.")
    eligible_catalog: list[CatalogFact] = Field(default_factory=list)
    excluded_categories: list[str] = Field(
        default_factory=list,
        description=(
            "Categories holding an active item this guest may not be offered (alcohol, allergens) that is"
            " missing from eligible_catalog: a category offer would cover it, so none is drafted on them."
        ),
    )
    complements: list[Complement] = Field(default_factory=list)
    offer_history: OfferHistorySummary = Field(default_factory=OfferHistorySummary)
    history: list[OfferHistoryEntry] = Field(
        default_factory=list, description="Offers and messages the fatigue rule counts (any trigger or campaign)."
    )
    staff_notes_pseudonymized: str | None = Field(default=None, description="Untrusted free text.")
    consents: ConsentSummary = Field(default_factory=ConsentSummary)
    allergies: list[str] | None = Field(default=None, description="Known allergies; None = unknown.")
    limits: OfferLimits = Field(default_factory=_default_limits)
    now: AwareDatetime
    local_date: date
    send_at: AwareDatetime | None = Field(
        default=None, description="When a message would go out (after the guest's quiet hours); None = now."
    )

    @property
    def planned_send_at(self) -> datetime:
        return (self.send_at or self.now).astimezone(UTC)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def summarize_history(history: Sequence[OfferHistoryEntry], now: datetime) -> OfferHistorySummary:
    """Offers the guest received (or will) in the last 30 days, and the latest offer (not a loose message)."""
    delivered = [entry for entry in history if entry.status in DELIVERED_STATUSES]
    since = now - timedelta(days=RECENT_DAYS)
    offers = [entry for entry in delivered if entry.trigger != "message"]
    last = max(offers, key=lambda entry: _aware(entry.at), default=None)
    return OfferHistorySummary(
        offers_last_30d=sum(1 for entry in delivered if _aware(entry.at) >= since),
        last_offer_days_ago=max(0, (now - _aware(last.at)).days) if last else None,
        last_offer_type=last.offer_type if last else None,
        last_offer_strategy=last.strategy if last else None,
    )


def assemble_draft_input(
    *,
    facts: CustomerFacts,
    features: DraftFeatures,
    catalog: Mapping[str, CatalogFact],
    policy: Policy,
    now: datetime,
    history: Sequence[OfferHistoryEntry] = (),
    sale_lines: Sequence[tuple[str, str]] = (),
    purchased_skus: Iterable[str] = (),
    complements: Sequence[Complement] = (),
    profile_document: str = "",
    staff_notes_pseudonymized: str | None = None,
    campaign: CampaignBrief | None = None,
) -> DraftInput:
    """The DraftInput of one decision, from facts already queried. Pure: no I/O, same input -> same output.

    `catalog` is the merchant's whole catalog; `sale_lines` are (sku, name as sold) of the triggering
    sale; `complements` (best first) are cut to the best five the guest may be offered. Consent to a channel counts only
    without an opt-out (and, for a campaign limited to one channel, only on that channel); tier, birthday and value
    figures come from `facts`, as the guardrails see them.
    """
    zone_name, _own_zone = customer_zone(facts.timezone, policy.quiet_hours.default_timezone)
    today = now.astimezone(ZoneInfo(zone_name)).date()
    eligible = eligible_catalog(catalog, facts=facts, policy=policy, today=today)
    eligible_skus = {item.sku for item in eligible}
    return DraftInput(
        pseudonym=facts.pseudonym,
        profile_document=profile_document,
        features=features.model_copy(
            update={
                "tier": facts.tier,
                "clv_cents": facts.clv_cents,
                "birthday_in_days": days_until_birthday(facts.birthday, today),
            }
        ),
        transaction=[
            TransactionLine(sku=sku, name=name, category=catalog[sku].category if sku in catalog else "unknown")
            for sku, name in sale_lines
        ],
        purchased_skus=sorted(set(purchased_skus)),
        eligible_catalog=eligible,
        excluded_categories=excluded_categories(catalog, eligible),
        complements=[c for c in complements if c.sku in eligible_skus][:MAX_COMPLEMENTS],
        offer_history=summarize_history(history, now),
        history=list(history),
        staff_notes_pseudonymized=staff_notes_pseudonymized,
        campaign=campaign,
        consents=ConsentSummary(
            sms=facts.consent_sms and not facts.opted_out and (campaign is None or campaign.channel != "email"),
            email=facts.consent_email and not facts.opted_out and (campaign is None or campaign.channel != "sms"),
            alcohol_marketing=facts.consent_alcohol_marketing,
            age_verified=facts.age_verified,
            alcohol_allowed=alcohol_eligible(facts, policy, today),
        ),
        allergies=facts.allergies,
        limits=OfferLimits.from_policy(policy),
        now=now,
        local_date=today,
        send_at=next_allowed_send_time(now.astimezone(UTC), zone_name, policy.quiet_hours),
    )
