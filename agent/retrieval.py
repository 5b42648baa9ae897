"""retrieve_context: everything one decision may look at, pseudonymous, built from DB + Qdrant."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from agent.context import AgentContext
from agent.drafting import (
    Complement,
    ConsentSummary,
    DraftFeatures,
    DraftInput,
    FavouriteItem,
    OfferHistorySummary,
    TransactionLine,
)
from agent.facts import (
    alcohol_eligible,
    contact_known_values,
    customer_facts,
    days_until_birthday,
    eligible_catalog,
    excluded_categories,
    local_date,
    offer_history,
    offer_limits,
)
from agent.read_tools import PurchaseSummaryLine, ReadToolContext, SimilarPurchase
from core.schemas import CatalogFact, CustomerFacts, OfferDraft
from db.tables import Customer, Location, Offer, PosTransaction
from db.tables import TransactionLine as TxnLine
from guardrails.context import GuardrailContext

# Points needed per tier: one point per dollar, the same thresholds the sandbox POS tiers by.
TIER_THRESHOLDS = (("silver", 500), ("gold", 1200), ("vip", 3000))


def _days_between(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 86400


def draft_features(
    features: dict[str, Any], customer: Customer, catalog: dict[str, CatalogFact], now: datetime
) -> DraftFeatures:
    if not features:
        return DraftFeatures(tier=customer.tier)
    rhythm = features.get("favourite_item_rhythm") or {}
    favourites = []
    for fav in features.get("favourite_items", []):
        last = datetime.fromisoformat(fav["last_ordered_at"])
        item = FavouriteItem(
            sku=fav["sku"],
            name=fav["name"],
            category=fav.get("category") or (catalog[fav["sku"]].category if fav["sku"] in catalog else "unknown"),
            count=fav["visits"],
            last_ordered_days_ago=int(_days_between(now, last)),
        )
        if rhythm.get("sku") == fav["sku"]:
            item.typical_interval_days = rhythm["median_interval_days"]
            item.next_expected_in_days = round(
                _days_between(datetime.fromisoformat(rhythm["next_expected_at"]), now), 1
            )
        favourites.append(item)
    next_visit = features.get("expected_next_visit_at")
    today = local_date(now, customer.timezone)
    next_tier = next((name for name, pts in TIER_THRESHOLDS if customer.points < pts), None)
    return DraftFeatures(
        favourite_items=favourites,
        favourite_categories=[c["name"] for c in features.get("favourite_categories", [])],
        visits_12m=features.get("visits_12m", 0),
        avg_interval_days=features.get("avg_interval_days"),
        days_since_last_visit=int(features.get("days_since_last_visit", 0)),
        expected_next_visit_in_days=round(_days_between(datetime.fromisoformat(next_visit), now), 1)
        if next_visit
        else None,
        churn_risk=features.get("churn_risk", 0.0),
        p_alive=features.get("p_alive", 1.0),
        clv_cents=features.get("clv_12m_cents", 0),
        spend_per_visit_cents=features.get("expected_spend_per_visit_cents", 0),
        lapsed=features.get("lapsed", False),
        dessert_share=features.get("dessert_share", 0.0),
        alcohol_share=features.get("alcohol_share", 0.0),
        brunch_share=features.get("brunch_share", 0.0),
        weekend_share=features.get("weekend_share", 0.0),
        birthday_in_days=days_until_birthday(customer.birthday, today),
        tier=customer.tier,
        next_tier=next_tier,
        points_to_next_tier=dict(TIER_THRESHOLDS)[next_tier] - customer.points if next_tier else None,
    )


def _complements(
    ctx: AgentContext,
    *,
    merchant_id: str,
    customer_id: int,
    purchased: set[str],
    eligible: dict[str, CatalogFact],
    limit: int = 5,
) -> list[Complement]:
    """Items that guests like this one favour and this guest has never ordered."""
    if ctx.vector_store is None:
        return []
    hits = ctx.vector_store.similar_customers(customer_id, merchant_id=merchant_id, limit=25)
    scores: dict[str, float] = {}
    for hit in hits:
        for sku in hit.payload.get("favourite_skus", []):
            if sku not in purchased and sku in eligible:
                scores[sku] = scores.get(sku, 0.0) + float(hit.score or 0.0)
    return [
        Complement(sku=sku, name=eligible[sku].name, score=round(score, 3))
        for sku, score in sorted(scores.items(), key=lambda kv: -kv[1])[:limit]
    ]


def facts_with_value(customer: Customer, location: Location | None, features: dict[str, Any]) -> CustomerFacts:
    """Customer facts plus the value figures of the decision's profile features (drafter and rules alike)."""
    return customer_facts(
        customer,
        location,
        clv_cents=features.get("clv_12m_cents", 0),
        visits_12m=features.get("visits_12m", 0),
        spend_12m_cents=features.get("spend_12m_cents", 0),
    )


def build_draft_input(
    ctx: AgentContext, *, merchant_id: str, customer_id: int, transaction_id: int | None, features: dict[str, Any]
) -> DraftInput:
    now = ctx.now()
    policy = ctx.policy
    with Session(ctx.engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        location = session.get(Location, customer.home_location_id) if customer.home_location_id else None
        if transaction_id is not None:
            txn = session.get(PosTransaction, transaction_id)
            if txn is not None:
                location = session.get(Location, txn.location_id)
        catalog = ctx.catalog(merchant_id)
        facts = facts_with_value(customer, location, features)
        lines = (
            session.exec(select(TxnLine).where(col(TxnLine.transaction_id) == transaction_id)).all()
            if transaction_id is not None
            else []
        )
        purchased = set(
            session.exec(
                select(TxnLine.sku)
                .join(PosTransaction, col(PosTransaction.id) == col(TxnLine.transaction_id))
                .where(col(PosTransaction.customer_id) == customer_id)
                .distinct()
            ).all()
        )
        history = offer_history(session, customer_id=customer_id, now=now)
        last_offer = session.exec(
            select(Offer)
            .where(col(Offer.customer_id) == customer_id, col(Offer.status) == "sent")
            .order_by(col(Offer.created_at).desc())
        ).first()
        known_values, notes = contact_known_values(session, customer_id=customer_id)
    today = local_date(now, customer.timezone)
    eligible = eligible_catalog(catalog, facts=facts, policy=policy, today=today)
    eligible_by_sku = {i.sku: i for i in eligible}
    notes_scrubbed = None
    if notes:
        # Staff notes are untrusted free text: pseudonymized (Presidio + this guest's own contact values).
        notes_scrubbed = ctx.get_pseudonymizer().pseudonymize_text(
            notes,
            customer_pseudonym=customer.pseudonym,
            profile_version=customer.profile_version,
            known_values=known_values,
        )
    recent = [h for h in history if _days_between(now, h.at) <= 30 and h.status == "sent"]
    return DraftInput(
        pseudonym=customer.pseudonym,
        profile_document=_profile_document(features, facts),
        features=draft_features(features, customer, catalog, now),
        transaction=[
            TransactionLine(
                sku=ln.sku, name=ln.name, category=catalog[ln.sku].category if ln.sku in catalog else "unknown"
            )
            for ln in lines
        ],
        purchased_skus=sorted(purchased),
        eligible_catalog=eligible,
        excluded_categories=excluded_categories(catalog, eligible),
        complements=_complements(
            ctx, merchant_id=merchant_id, customer_id=customer_id, purchased=purchased, eligible=eligible_by_sku
        ),
        offer_history=OfferHistorySummary(
            offers_last_30d=len(recent),
            last_offer_days_ago=int(_days_between(now, last_offer.created_at)) if last_offer else None,
            last_offer_type=last_offer.offer_type if last_offer else None,
            last_offer_strategy=last_offer.strategy if last_offer else None,
        ),
        staff_notes_pseudonymized=notes_scrubbed,
        consents=ConsentSummary(
            sms=facts.consent_sms and not facts.opted_out,
            email=facts.consent_email and not facts.opted_out,
            alcohol_marketing=facts.consent_alcohol_marketing,
            age_verified=facts.age_verified,
            alcohol_allowed=alcohol_eligible(facts, today),
        ),
        allergies=customer.allergies,
        limits=offer_limits(policy),
        now=now,
        local_date=today,
    )


def _profile_document(features: dict[str, Any], facts: Any) -> str:
    if not features:
        return f"Guest {facts.pseudonym}: no visit history yet."
    from profiles.document import profile_document
    from profiles.features import ProfileFeatures

    return profile_document(ProfileFeatures.model_validate(features), facts)


def guardrail_context(
    ctx: AgentContext,
    *,
    offer: OfferDraft,
    merchant_id: str,
    customer_id: int,
    location_id: str | None,
    offer_id: str | None,
    features: dict[str, Any] | None = None,
) -> GuardrailContext:
    """Facts as they are now (a reviewer's edit hours later is checked against current consent/history).

    Value figures (12-month visits and spend, CLV) come from the decision's profile features, the same
    numbers the drafter saw.
    """
    now = ctx.now()
    with Session(ctx.engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        location = session.get(Location, location_id) if location_id else None
        catalog = ctx.catalog(merchant_id)
        history = offer_history(session, customer_id=customer_id, now=now, exclude_offer_id=offer_id)
        known_values, _notes = contact_known_values(session, customer_id=customer_id)
    facts = facts_with_value(customer, location, features or {})
    return GuardrailContext(
        offer=offer,
        customer=facts,
        catalog=catalog,
        history=history,
        policy=ctx.policy,
        now=now,
        known_pii_values=known_values,
    )


def read_tool_context(ctx: AgentContext, inp: DraftInput, *, merchant_id: str, customer_id: int) -> ReadToolContext:
    """Data behind the model's read-only tools, already scoped to this guest and merchant."""

    def purchase_history(limit: int) -> list[PurchaseSummaryLine]:
        with Session(ctx.engine) as session:
            rows = session.exec(
                select(TxnLine.sku, TxnLine.name)
                .join(PosTransaction, col(PosTransaction.id) == col(TxnLine.transaction_id))
                .where(col(PosTransaction.customer_id) == customer_id)
            ).all()
        counts = Counter((sku, name) for sku, name in rows)
        cat = {i.sku: i.category for i in inp.eligible_catalog}
        return [
            PurchaseSummaryLine(sku=sku, name=name, category=cat.get(sku, "unknown"), times_ordered=n)
            for (sku, name), n in counts.most_common(limit)
        ]

    def similar_purchases(query: str, limit: int) -> list[SimilarPurchase]:
        if ctx.vector_store is None or ctx.embedder is None:
            return []
        vector = ctx.embedder.embed([query])[0]
        hits = ctx.vector_store.search_purchases(vector, merchant_id=merchant_id, limit=limit * 3)
        by_sku = {i.sku: i for i in inp.eligible_catalog}
        scores: dict[str, float] = {}
        for hit in hits:
            for sku in hit.payload.get("skus", []):
                if sku in by_sku:
                    scores[sku] = scores.get(sku, 0.0) + float(hit.score or 0.0)
        return [
            SimilarPurchase(sku=sku, name=by_sku[sku].name, score=round(s, 3), category=by_sku[sku].category)
            for sku, s in sorted(scores.items(), key=lambda kv: -kv[1])[:limit]
        ]

    def history(limit: int) -> list[Any]:
        with Session(ctx.engine) as session:
            return offer_history(session, customer_id=customer_id, now=ctx.now())[-limit:]

    return ReadToolContext(
        catalog=inp.eligible_catalog,
        eligible_skus=frozenset(i.sku for i in inp.eligible_catalog),
        purchase_history=purchase_history,
        similar_purchases=similar_purchases,
        offer_history=history,
        offer_history_summary=inp.offer_history,
    )

