"""Deciding a chunk of campaign guests at once: the offer graph's first half, batched.

A campaign reaches thousands of guests; reading each guest's facts with a query per fact, and writing each
node's audit in its own transaction, is what makes a per-guest graph run cost tens of milliseconds. So for a
chunk of guests this module reads the facts in bulk (customers, locations, contacts, offer histories,
purchased items: a few queries per chunk) and then runs, guest by guest and in memory, exactly what the
graph's `retrieve_context`, `draft_offer` and `check_guardrails` nodes run: `assemble_draft_input` (the one
function every drafter input comes from), the configured drafter, and the guardrail engine on a
`GuardrailContext` of facts read now. Drafts with their verdicts (db.offers.checked_values) and the nodes'
audit rows are written in one transaction per chunk, each table in one executemany.

The model's read-only tools (when a model drafts) answer from the draft input, with no query per guest; the
complements a checkout draft gets from the vector store are left out: an outreach is about its trigger's item.

What happens next is the graph's, not this module's: each decision that passed or escalated becomes a thread
of the offer graph seeded after `check_guardrails` (agent.campaigns.run), so `execute` re-checks every rule
on fresh facts right before any side effect, escalations wait in the same review queue, and a crash resumes
the thread with the same idempotency keys. Blocked and empty drafts end here, recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from agent.campaigns.brief import CampaignBrief
from agent.campaigns.eligibility import GuestSnapshot
from agent.context import AgentContext
from agent.draft_input import DraftInput, assemble_draft_input
from agent.drafting import DraftResult
from agent.facts import jsonable, known_values_of, offer_histories, offer_id_for
from agent.read_tools import context_from_draft_input
from agent.retrieval import draft_features, facts_with_value, profile_text
from agent.review import approved
from core.schemas import GuardrailReport, OfferHistoryEntry
from db import offers
from db.tables import Customer, CustomerContact, Location, PosTransaction, TransactionLine
from guardrails.context import GuardrailContext
from guardrails.engine import evaluate
from tools.audit import audit_values

STEPS_BEFORE_ROUTING = ["load_recipient", "retrieve_context", "draft_offer", "check_guardrails"]


@dataclass(frozen=True)
class ChunkFacts:
    """What a chunk of decisions reads, in bulk, as of now."""

    customers: dict[int, Customer]
    locations: dict[str, Location]
    contacts: dict[int, CustomerContact]
    histories: dict[int, list[OfferHistoryEntry]]
    purchased: dict[int, set[str]]

    @classmethod
    def load(cls, ctx: AgentContext, session: Session, customer_ids: Sequence[int]) -> ChunkFacts:
        ids = sorted(set(customer_ids))
        customers = {c.id: c for c in session.exec(select(Customer).where(col(Customer.id).in_(ids))).all()
                     if c.id is not None}
        contacts = {c.customer_id: c for c in
                    session.exec(select(CustomerContact).where(col(CustomerContact.customer_id).in_(ids))).all()}
        merchants = {c.merchant_id for c in customers.values()}
        locations = {loc.id: loc for loc in
                     session.exec(select(Location).where(col(Location.merchant_id).in_(merchants))).all()}
        purchased: dict[int, set[str]] = {customer_id: set() for customer_id in ids}
        for customer_id, sku in session.exec(
            select(PosTransaction.customer_id, TransactionLine.sku)
            .join(TransactionLine, col(TransactionLine.transaction_id) == col(PosTransaction.id))
            .where(col(PosTransaction.customer_id).in_(ids))
            .distinct()
        ).all():
            if customer_id is not None:
                purchased[customer_id].add(sku)
        histories = offer_histories(session, customer_ids=ids, now=ctx.now())
        return cls(customers, locations, contacts, histories, purchased)


@dataclass(frozen=True)
class Decision:
    """One guest's draft and verdicts, before anything is written."""

    event_id: str
    offer_id: str
    guest: GuestSnapshot
    brief: CampaignBrief
    inp: DraftInput
    result: DraftResult
    report: GuardrailReport | None
    offer_value_cents: int

    @property
    def makes_offer(self) -> bool:
        return self.result.offer.make_offer

    def state(self, merchant_id: str) -> dict[str, Any]:
        """The graph state these decisions leave after `check_guardrails` (draft input left out: it is in the
        audit trail's digest, and thousands of copies would bloat the checkpoints)."""
        features = self.guest.features
        values: dict[str, Any] = {
            "event_id": self.event_id,
            "merchant_id": merchant_id,
            "customer_id": self.guest.customer_id,
            "features": features.model_dump(mode="json") if features is not None else None,
            "campaign": self.brief.model_dump(mode="json"),
            "draft": jsonable(self.result.offer),
            "draft_meta": self.result.meta,
            "offer_id": self.offer_id if self.makes_offer else None,
            "verdict": self.report.verdict if self.report else None,
            "report": self.report.model_dump(mode="json") if self.report else None,
            "steps": list(STEPS_BEFORE_ROUTING if self.makes_offer else STEPS_BEFORE_ROUTING[:3]),
        }
        if self.guest.home_location_id is not None:
            values["location_id"] = self.guest.home_location_id
        return values


def decide(
    ctx: AgentContext, *, merchant_id: str, event_id: str, guest: GuestSnapshot, brief: CampaignBrief,
    facts: ChunkFacts, notes: bool,
) -> Decision:
    """Retrieve (from `facts`), draft and check one guest, in memory. `notes`: pseudonymize the guest's staff
    notes for the drafter (only drafters that read them pay for Presidio)."""
    now = ctx.now()
    customer = facts.customers[guest.customer_id]
    location = facts.locations.get(guest.home_location_id or "")
    catalog = ctx.catalog(merchant_id)
    customer_facts = facts_with_value(customer, location, guest.features)
    known_values, raw_notes = known_values_of(facts.contacts.get(guest.customer_id))
    scrubbed = None
    if notes and raw_notes:
        scrubbed = ctx.get_pseudonymizer().pseudonymize_text(
            raw_notes, customer_pseudonym=customer.pseudonym, profile_version=customer.profile_version,
            known_values=known_values,
        )
    history = facts.histories.get(guest.customer_id, [])
    inp = assemble_draft_input(
        facts=customer_facts,
        features=draft_features(guest.features, customer, catalog, now, lifetime_points=guest.lifetime_points),
        catalog=catalog,
        policy=ctx.policy,
        now=now,
        history=history,
        purchased_skus=facts.purchased.get(guest.customer_id, ()),
        profile_document=profile_text(guest.features, customer_facts),
        staff_notes_pseudonymized=scrubbed,
        campaign=brief,
    )
    result = ctx.drafter.draft(inp, context=context_from_draft_input(inp))
    report, value = None, 0
    if result.offer.make_offer:
        gctx = GuardrailContext(offer=result.offer, customer=customer_facts, catalog=catalog, history=history,
                                policy=ctx.policy, now=now, known_pii_values=known_values)
        report, value = evaluate(gctx), round(gctx.offer_value_cents)
    return Decision(event_id, offer_id_for(event_id), guest, brief, inp, result, report, value)


def record(decision: Decision, state: dict[str, Any], *, merchant_id: str, offer_rows: list[dict[str, Any]],
           audit_rows: list[dict[str, Any]]) -> str | None:
    """Append to `offer_rows` one decision's offer row (already in the status its verdicts give:
    db.offers.checked_values) and to `audit_rows` the audit rows of the nodes it stands for; returns that status
    (None: no offer drafted). `state`: the decision's `state(merchant_id)`, built once by the caller (its
    thread starts from it). Nothing is written: the chunk inserts its offers in one executemany
    (db.offers.insert_checked), then its audit rows in another (tools.audit.insert_audit_rows)."""
    brief, offer, result = decision.brief, decision.result.offer, decision.result
    # The draft input is large: digested once (its JSON, field order fixed by the model) for both nodes' rows.
    draft_input = "sha256:" + hashlib.sha256(decision.inp.model_dump_json().encode()).hexdigest()
    offer_id = decision.offer_id if offer.make_offer else None

    def node(name: str, outputs: dict[str, Any], **kw: Any) -> None:
        kw.setdefault("offer_id", offer_id)
        audit_rows.append(audit_values(correlation_id=decision.event_id, node=name, outputs=outputs, **kw))

    node("load_recipient", {"campaign_id": brief.campaign_id, "kind": brief.kind, "trigger": brief.trigger,
                            "sku": brief.sku, "reason": brief.reason},
         offer_id=None, inputs={"customer_id": decision.guest.customer_id})
    node("retrieve_context", {"eligible_items": len(decision.inp.eligible_catalog), "complements": 0,
                              "offers_last_30d": decision.inp.offer_history.offers_last_30d,
                              "has_staff_notes": decision.inp.staff_notes_pseudonymized is not None},
         offer_id=None, inputs=draft_input)
    node("draft_offer", {"make_offer": offer.make_offer, "strategy": offer.strategy, "offer_type": offer.offer_type,
                         "sku": offer.sku, "rationale": offer.rationale, "confidence": offer.confidence,
                         **result.meta},
         offer_id=offer_id, model=result.model, prompt_version=result.prompt_version, inputs=draft_input)
    report = decision.report
    if offer_id is None or report is None:
        node("record", {"outcome": "no_offer", "verdict": None, "fallback_reason": result.fallback_reason})
        return None
    verdicts = [r.model_dump(mode="json") for r in report.results]
    status = (offers.BLOCKED if report.verdict == "block"
              else offers.APPROVED if approved(state) else offers.PENDING_REVIEW)  # type: ignore[arg-type]
    offer_rows.append(offers.checked_values(
        offer_id=offer_id, merchant_id=merchant_id, customer_id=decision.guest.customer_id,
        event_id=decision.event_id, campaign_id=brief.campaign_id, draft=offer, model=result.model,
        prompt_version=result.prompt_version, fallback_reason=result.fallback_reason, status=status,
        verdict=report.verdict, verdicts=verdicts, offer_value_cents=decision.offer_value_cents,
        send_at=report.send_at))
    node("check_guardrails", {"verdict": report.verdict, "blocking": [r.rule for r in report.blocking],
                              "escalating": [r.rule for r in report.escalating],
                              "send_at": report.send_at.isoformat() if report.send_at else None},
         verdicts=verdicts, inputs=jsonable(offer))
    if status == offers.BLOCKED:
        node("record", {"outcome": "blocked", "verdict": report.verdict, "fallback_reason": result.fallback_reason})
    return status
