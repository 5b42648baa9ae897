"""The review queue: offers waiting for a person, filtered the way reviewers triage them.

Filters: trigger (transaction | campaign), strategy, the rule that escalated the offer, and age
(waiting at least N hours). Oldest first: the guest who waited longest is reviewed first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from db.offers import PENDING_REVIEW
from db.tables import Customer, Offer

# Rows read per round trip while filtering on the JSON verdicts column.
_SCAN_BATCH = 200


@dataclass(frozen=True)
class QueueFilters:
    trigger: str | None = None
    strategy: str | None = None
    reason: str | None = None
    """Name of a rule whose verdict is `escalate` (e.g. `escalation`, `copy`, `fatigue`)."""
    min_age_hours: float | None = None


@dataclass(frozen=True)
class QueueEntry:
    offer: Offer
    pseudonym: str
    reasons: list[dict[str, Any]]
    """The escalating verdicts: rule and reason."""


def escalations(offer: Offer) -> list[dict[str, Any]]:
    """The verdicts that sent this offer to review."""
    return [
        {"rule": v.get("rule"), "reason": v.get("reason")}
        for v in offer.verdicts or []
        if isinstance(v, dict) and v.get("verdict") == "escalate"
    ]


def review_queue(
    session: Session, filters: QueueFilters, *, now: datetime, limit: int = 50, offset: int = 0
) -> list[QueueEntry]:
    """Pending offers matching `filters`, oldest first."""
    query = (
        select(Offer, Customer.pseudonym)
        .join(Customer, col(Customer.id) == col(Offer.customer_id))
        .where(col(Offer.status) == PENDING_REVIEW)
    )
    if filters.trigger:
        query = query.where(col(Offer.trigger) == filters.trigger)
    if filters.strategy:
        query = query.where(col(Offer.strategy) == filters.strategy)
    if filters.min_age_hours is not None:
        query = query.where(col(Offer.created_at) <= now - timedelta(hours=filters.min_age_hours))
    query = query.order_by(col(Offer.created_at), col(Offer.id))
    entries: list[QueueEntry] = []
    skipped = 0
    start = 0
    # The escalation reason lives in the JSON verdicts: filter in batches, stop once the page is full.
    while len(entries) < limit:
        rows = session.exec(query.offset(start).limit(_SCAN_BATCH)).all()
        for offer, pseudonym in rows:
            reasons = escalations(offer)
            if filters.reason and filters.reason not in {r["rule"] for r in reasons}:
                continue
            if skipped < offset:
                skipped += 1
                continue
            entries.append(QueueEntry(offer=offer, pseudonym=pseudonym, reasons=reasons))
            if len(entries) == limit:
                break
        if len(rows) < _SCAN_BATCH:
            break
        start += _SCAN_BATCH
    return entries


def queue_facets(session: Session) -> dict[str, list[str]]:
    """The values the queue's filters can take right now (for the filter menus)."""
    rows = session.exec(
        select(Offer.trigger, Offer.strategy, Offer.verdicts).where(col(Offer.status) == PENDING_REVIEW)
    ).all()
    triggers: set[str] = set()
    strategies: set[str] = set()
    reasons: set[str] = set()
    for trigger, strategy, verdicts in rows:
        triggers.add(trigger)
        if strategy:
            strategies.add(strategy)
        reasons.update(
            str(v["rule"]) for v in verdicts or []
            if isinstance(v, dict) and v.get("verdict") == "escalate" and v.get("rule")
        )
    return {"trigger": sorted(triggers), "strategy": sorted(strategies), "reason": sorted(reasons)}
