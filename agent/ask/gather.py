"""gather: the facts one question needs about the one guest it is about, from the DB and Qdrant.

What is read depends on the intents (a points question does not load visits), and everything is
keyed by the resolved guest's internal id: profile (tier, points, allergies as recorded, consents
yes/no, birthday month), visits and favourites (profile features, including the expected next
visit computed by the BG/NBD model), open offers, the staff note (pseudonymized; untrusted), menu
items the question names, the guardrail-filtered suggestions, and the guest's own visits closest
in meaning to an open question (Qdrant purchase vectors, filtered to this guest).

Dates are the guest's local dates (the profile's timezone).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from agent.ask.allergy import ALLERGY_TOPIC_RE, allergens_in
from agent.ask.context import AskContext
from agent.ask.fact_builders import (
    alcohol_fact,
    catalog_fact,
    item_history_fact,
    note_fact,
    offer_fact,
    profile_facts,
    transaction_fact,
    visit_facts,
)
from agent.ask.guest import (
    GuestRef,
    guest_contact,
    guest_visits,
    lifetime_points_earned,
    load_customer,
    location_names,
    open_offers,
    pos_transaction_ids,
)
from agent.ask.menu_match import items_named, items_with_allergens
from agent.ask.schemas import Fact
from agent.ask.suggest import guest_filters, suggest_items
from agent.facts import customer_facts, local_date
from profiles.features import ProfileFeatures, compute_features
from profiles.visits import Visit

log = logging.getLogger(__name__)

VISIT_INTENTS = frozenset({"usual_order", "visits", "suggest", "overview", "item_history"})
OFFER_INTENTS = frozenset({"offers", "overview"})
# The note costs a Presidio pass and the purchase search an embedding: read them only for questions
# that can use them, also when the model answers (an open question gets both).
NOTE_INTENTS = frozenset({"notes", "overview", "unsupported"})
ITEM_INTENTS = frozenset({"item_history", "allergies", "suggest"})
VECTOR_INTENTS = frozenset({"item_history", "overview", "unsupported"})
SIMILAR_VISITS = 3
ITEM_TRANSACTIONS = 3


@dataclass(frozen=True)
class Gathered:
    facts: list[Fact]
    summary: dict[str, Any]  # counts for the audit row (no fact text)


def gather_facts(ctx: AskContext, ref: GuestRef, *, intents: list[str], question: str, full: bool = False) -> Gathered:
    """Facts for `intents`. `full` reads every database group (the model answers with them); the staff note
    and the purchase vectors are read only for questions that can use them (NOTE_INTENTS, VECTOR_INTENTS)."""
    agent = ctx.services.agent
    now = agent.now()
    wants = set(intents)
    every = full or "overview" in wants
    catalog = agent.catalog(ref.merchant_id)
    with Session(agent.engine) as session:
        customer, location = load_customer(session, ref)
        tz = customer.timezone
        facts = profile_facts(customer, today=local_date(now, tz), lifetime_points=lifetime_points_earned(session, ref))
        visits: list[Visit] = guest_visits(session, ref) if every or wants & VISIT_INTENTS else []
        offers = open_offers(session, ref, now=now) if every or wants & OFFER_INTENTS else []
        known_values, raw_note = guest_contact(session, ref)
        names = location_names(session, ref.merchant_id) if visits else {}
        features: ProfileFeatures | None = None
        if visits:
            features = compute_features(
                visits, model=agent.merchant_model(ref.merchant_id), now=now, customer_id=ref.customer_id
            )
        named = items_named(question, catalog.values()) if every or wants & ITEM_INTENTS else []
        if "item_history" in wants and not named:
            named = items_with_allergens(allergens_in(question, agent.policy.top9_allergens), catalog.values())
        history_visits: list[Visit] = []
        if "item_history" in wants or full:
            for item in named:
                history_visits += [v for v in visits if any(ln.sku == item.sku for ln in v.lines)][-ITEM_TRANSACTIONS:]
        # Meaning search when words do not settle it: no menu item named, or the model answers.
        search = wants & VECTOR_INTENTS and (full or not named)
        similar = _similar_visits(ctx, ref, question, visits) if search and visits else []
        cited_visits = ([visits[-1]] if visits else []) + history_visits + similar
        pos_ids = pos_transaction_ids(session, ref, (v.transaction_id for v in cited_visits if v.transaction_id))

    if features is not None:
        facts += visit_facts(features, tz=tz)
        last = visits[-1]
        if last.transaction_id in pos_ids:
            facts.append(
                transaction_fact(
                    last,
                    pos_id=pos_ids[last.transaction_id],
                    tz=tz,
                    location=names.get(last.location_id or ""),
                    field="last_visit",
                )
            )
    facts += [offer_fact(o, catalog, tz=tz) for o in offers]
    facts += [catalog_fact(item) for item in named]
    if "item_history" in wants or full:
        facts += [item_history_fact(item, visits, tz=tz) for item in named]
        facts += _visit_facts_once(history_visits, pos_ids, names, tz, field="ordered_item", seen=facts)
    facts += _visit_facts_once(similar, pos_ids, names, tz, field="similar_visit", seen=facts)
    note_needed = (
        wants & NOTE_INTENTS or ("allergies" in wants and raw_note and ALLERGY_TOPIC_RE.search(raw_note))
    )
    if raw_note and note_needed:
        scrubbed = agent.get_pseudonymizer().pseudonymize_text(
            raw_note,
            customer_pseudonym=customer.pseudonym,
            profile_version=customer.profile_version,
            known_values=known_values,
        )
        facts.append(note_fact(scrubbed, mentions_allergy=bool(ALLERGY_TOPIC_RE.search(raw_note))))
    if every or "suggest" in wants:
        filters = guest_filters(customer_facts(customer, location), catalog, policy=agent.policy, now=now)
        facts.append(alcohol_fact(filters.alcohol_reasons))
        purchased = {ln.sku for v in visits for ln in v.lines}
        picks = suggest_items(
            catalog=catalog,
            filters=filters,
            features=features,
            purchased=purchased,
            popularity=ctx.services.popularity(ref.merchant_id),
        )
        for pick in picks:
            fact = catalog_fact(pick.item)
            facts.append(
                fact.model_copy(
                    update={"field": "suggestion", "value": {**fact.value, "kind": pick.kind, "reason": pick.reason}}
                )
            )
    summary = {
        "facts": len(facts),
        "visits": len(visits),
        "open_offers": len(offers),
        "named_items": [item.sku for item in named],
        "similar_visits": len(similar),
        "has_staff_note": raw_note is not None,
    }
    return Gathered(facts=_dedupe(facts), summary=summary)


def _visit_facts_once(
    visits: list[Visit], pos_ids: dict[int, str], names: dict[str, str], tz: str, *, field: str, seen: list[Fact]
) -> list[Fact]:
    have = {f.id for f in seen}
    out: list[Fact] = []
    for visit in visits:
        pos_id = pos_ids.get(visit.transaction_id or -1)
        if pos_id is None or f"transaction:{pos_id}" in have:
            continue
        have.add(f"transaction:{pos_id}")
        out.append(
            transaction_fact(visit, pos_id=pos_id, tz=tz, location=names.get(visit.location_id or ""), field=field)
        )
    return out


def _similar_visits(ctx: AskContext, ref: GuestRef, question: str, visits: list[Visit]) -> list[Visit]:
    """This guest's visits closest in meaning to the question (Qdrant, filtered to this guest)."""
    agent = ctx.services.agent
    if agent.vector_store is None or agent.embedder is None:
        return []
    try:
        vector = agent.embedder.embed([question])[0]
        hits = agent.vector_store.search_purchases(
            vector, merchant_id=ref.merchant_id, customer_id=ref.customer_id, limit=SIMILAR_VISITS
        )
    except Exception:  # the index is an aid: a question is still answered from the database
        log.warning("purchase vector search failed; answering from the database only", exc_info=True)
        return []
    by_id = {v.transaction_id: v for v in visits}
    found = [by_id.get(int(hit.payload.get("transaction_id", -1))) for hit in hits]
    return [v for v in found if v is not None]


def _dedupe(facts: list[Fact]) -> list[Fact]:
    seen: dict[str, Fact] = {}
    for fact in facts:
        seen[fact.id] = fact
    return list(seen.values())
