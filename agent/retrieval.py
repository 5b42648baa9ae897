"""retrieve_context: everything one decision may look at, pseudonymous, built from DB + Qdrant."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from agent.campaigns.brief import CampaignBrief
from agent.context import AgentContext
from agent.draft_input import Complement, DraftFeatures, DraftInput, FavouriteItem, assemble_draft_input
from agent.drafting import reads_staff_notes
from agent.facts import contact_known_values, customer_facts, offer_history
from agent.read_tools import PurchaseSummaryLine, ReadToolContext, SimilarPurchase
from core.schemas import CatalogFact, CustomerFacts, OfferDraft
from core.tiers import points_to_next_tier, tier_points
from db.engine import core_connection
from db.loyalty import lifetime_points_earned
from db.tables import Customer, Location, PosTransaction
from db.tables import TransactionLine as TxnLine
from guardrails.context import GuardrailContext
from profiles.features import ProfileFeatures


def _days_between(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 86400


def draft_features(
    features: ProfileFeatures | None, customer: Customer, catalog: dict[str, CatalogFact], now: datetime,
    *, lifetime_points: int | None,
) -> DraftFeatures:
    """The drafter's view of the profile features (tier, birthday and value figures are set from the
    customer facts by `assemble_draft_input`). `lifetime_points`: the ledger's credits (None: no ledger,
    the balance stands in), what the next tier is measured by (core.tiers)."""
    if features is None:
        return DraftFeatures()
    rhythm = features.favourite_item_rhythm
    favourites = []
    for fav in features.favourite_items:
        item = FavouriteItem(
            sku=fav.sku,
            name=fav.name,
            category=fav.category or (catalog[fav.sku].category if fav.sku in catalog else "unknown"),
            count=fav.visits,
            last_ordered_days_ago=int(_days_between(now, fav.last_ordered_at)),
        )
        if rhythm is not None and rhythm.sku == fav.sku:
            item.typical_interval_days = rhythm.median_interval_days
            item.next_expected_in_days = round(_days_between(rhythm.next_expected_at, now), 1)
        favourites.append(item)
    gap = points_to_next_tier(customer.tier, tier_points(lifetime_points, customer.points))
    return DraftFeatures(
        favourite_items=favourites,
        favourite_categories=[c.name for c in features.favourite_categories],
        visits_12m=features.visits_12m,
        avg_interval_days=features.avg_interval_days,
        days_since_last_visit=int(features.days_since_last_visit),
        expected_next_visit_in_days=round(_days_between(features.expected_next_visit_at, now), 1),
        churn_risk=features.churn_risk,
        p_alive=features.p_alive,
        clv_cents=features.clv_12m_cents,
        spend_per_visit_cents=features.expected_spend_per_visit_cents,
        lapsed=features.lapsed,
        dessert_share=features.dessert_share,
        alcohol_share=features.alcohol_share,
        brunch_share=features.brunch_share,
        weekend_share=features.weekend_share,
        next_tier=gap.tier if gap else None,
        points_to_next_tier=gap.to_go if gap else None,
    )


def _complements(
    ctx: AgentContext, *, merchant_id: str, customer_id: int, purchased: set[str], catalog: dict[str, CatalogFact]
) -> list[Complement]:
    """Items that guests like this one favour and this guest has never ordered, best first
    (`assemble_draft_input` keeps the ones this guest may be offered)."""
    if ctx.vector_store is None:
        return []
    hits = ctx.vector_store.similar_customers(customer_id, merchant_id=merchant_id, limit=25)
    scores: dict[str, float] = {}
    for hit in hits:
        for sku in hit.payload.get("favourite_skus", []):
            if sku not in purchased and sku in catalog:
                scores[sku] = scores.get(sku, 0.0) + float(hit.score or 0.0)
    return [
        Complement(sku=sku, name=catalog[sku].name, score=round(score, 3))
        for sku, score in sorted(scores.items(), key=lambda kv: -kv[1])
    ]


def facts_with_value(
    customer: Customer, location: Location | None, features: ProfileFeatures | None
) -> CustomerFacts:
    """Customer facts plus the value figures of the decision's profile features (drafter and rules alike;
    zero for a guest without visits)."""
    return customer_facts(
        customer,
        location,
        clv_cents=features.clv_12m_cents if features else 0,
        visits_12m=features.visits_12m if features else 0,
        spend_12m_cents=features.spend_12m_cents if features else 0,
    )


# Built once (statement building cost more than running these); plain rows of the columns needed.
# The sale's lines in the database's order, as load_transaction reads them (agent.lateness._RECEIVED_SALE).
_SALE_LINES = sa_select(col(TxnLine.sku), col(TxnLine.name)).where(
    col(TxnLine.transaction_id) == bindparam("transaction_id")
)
_PURCHASED_SKUS = (
    sa_select(col(TxnLine.sku))
    .join(PosTransaction, col(PosTransaction.id) == col(TxnLine.transaction_id))
    .where(col(PosTransaction.customer_id) == bindparam("customer_id"))
    .distinct()
)


def build_draft_input(
    ctx: AgentContext,
    *,
    merchant_id: str,
    customer_id: int,
    transaction_id: int | None,
    features: ProfileFeatures | None,
    campaign: CampaignBrief | None = None,
    session: Session | None = None,
) -> DraftInput:
    """What the drafter sees, read through `session` when given (the caller's transaction)."""
    now = ctx.now()
    policy = ctx.policy
    with ctx.reading(session) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        txn = session.get(PosTransaction, transaction_id) if transaction_id is not None else None
        # The sale's location, else the guest's home location.
        location_id = txn.location_id if txn is not None else customer.home_location_id
        location = session.get(Location, location_id) if location_id else None
        catalog = ctx.catalog(merchant_id)
        facts = facts_with_value(customer, location, features)
        connection = core_connection(session)
        sale_lines: list[tuple[str, str]] = (
            [(sku, name) for sku, name in connection.execute(_SALE_LINES, {"transaction_id": transaction_id})]
            if transaction_id is not None
            else []
        )
        purchased = set(connection.execute(_PURCHASED_SKUS, {"customer_id": customer_id}).scalars())
        history = offer_history(session, customer_id=customer_id, now=now)
        known_values, notes = contact_known_values(session, customer_id=customer_id)
        lifetime = lifetime_points_earned(session, [customer_id]).get(customer_id)
    notes_scrubbed = None
    if notes and reads_staff_notes(ctx.drafter):
        # Staff notes are untrusted free text: pseudonymized (Presidio + this guest's own contact values).
        notes_scrubbed = ctx.get_pseudonymizer().pseudonymize_text(
            notes,
            customer_pseudonym=customer.pseudonym,
            profile_version=customer.profile_version,
            known_values=known_values,
        )
    return assemble_draft_input(
        facts=facts,
        features=draft_features(features, customer, catalog, now, lifetime_points=lifetime),
        catalog=catalog,
        policy=policy,
        now=now,
        history=history,
        sale_lines=sale_lines,
        purchased_skus=purchased,
        complements=_complements(
            ctx, merchant_id=merchant_id, customer_id=customer_id, purchased=purchased, catalog=catalog
        ),
        profile_document=profile_text(features, facts),
        staff_notes_pseudonymized=notes_scrubbed,
        campaign=campaign,
    )


def profile_text(features: ProfileFeatures | None, facts: CustomerFacts) -> str:
    """The pseudonymized profile document the drafter reads."""
    if features is None:
        return f"Guest {facts.pseudonym}: no visit history yet."
    from profiles.document import profile_document

    return profile_document(features, facts)


def guardrail_context(
    ctx: AgentContext,
    *,
    offer: OfferDraft,
    merchant_id: str,
    customer_id: int,
    location_id: str | None,
    offer_id: str | None,
    features: ProfileFeatures | None = None,
    session: Session | None = None,
) -> GuardrailContext:
    """Facts as they are now (a reviewer's edit hours later is checked against current consent/history),
    read through `session` when given (the caller's transaction).

    Value figures (12-month visits and spend, CLV) come from the decision's profile features, the same
    numbers the drafter saw.
    """
    now = ctx.now()
    with ctx.reading(session) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        location = session.get(Location, location_id) if location_id else None
        catalog = ctx.catalog(merchant_id)
        history = offer_history(session, customer_id=customer_id, now=now, exclude_offer_id=offer_id)
        known_values, _notes = contact_known_values(session, customer_id=customer_id)
    facts = facts_with_value(customer, location, features)
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

