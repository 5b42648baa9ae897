"""The offer lifecycle: every write of `offer.status` goes through the transitions below.

Row life cycle (`offer.status`):

    (draft_offer) drafted --rules pass--------------------------> approved --execute--> sent
                          --rules block-------------------------> blocked                 |
                          --rules escalate--> pending_review                             | profile change
                                               |  ^     |                                 | fails a rule
                                  claim_review |  |     +--profile change fails a rule--> blocked
                                               v  |                                       v
                                          reviewing -- release / lease expired ------^  cancelled
                                               | reject ------------------------------> rejected
                                               | edit that the rules block -----------> blocked
                                               | marketer's edit re-checked ----------> pending_review
                                               | accept / manager's edit --execute----> sent | blocked
                                               |                              (new escalation) pending_review
                                               | POS down while executing ------------> approved

A campaign's batch (agent/campaigns/batch.py) drafts and checks thousands of guests in memory and writes each
row once, already in the status its verdicts give (`checked_values`, `insert_checked`: approved |
pending_review | blocked); from there the row lives the same life.

`approved` also covers a decision whose execution was handed to the worker (POS down): the worker
resumes `execute`, which re-checks every rule first and may still end `blocked` or `pending_review`.
While a row is `reviewing`, `reviewing_until` is the end of the reviewer's lease: a process that
died mid-review leaves a row that `reclaim_expired_reviews` (or the next claim) returns to the queue.

Every transition is a compare-and-set (`UPDATE .. WHERE status IN (...)`): it returns False, and
changes nothing, when the row has moved on meanwhile. Callers pass their own Session so an audit
row or a scheduled message commits in the same transaction as the status it belongs to.

The draft <-> row field mapping lives here too (`draft_columns` / `draft_from_row`), so the graph
and the review route read and write the same columns the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy import select as select_columns
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.schemas import OfferDraft
from db.engine import core_connection
from db.tables import Offer
from db.types import utcnow

DRAFTED = "drafted"
PENDING_REVIEW = "pending_review"
REVIEWING = "reviewing"
APPROVED = "approved"
SENT = "sent"
BLOCKED = "blocked"
REJECTED = "rejected"
CANCELLED = "cancelled"

OFFER_STATUSES: tuple[str, ...] = (
    DRAFTED,
    PENDING_REVIEW,
    REVIEWING,
    APPROVED,
    SENT,
    BLOCKED,
    REJECTED,
    CANCELLED,
)

# The one answer to "does this offer count towards the guest's fatigue caps?": every offer that has
# reached the guest or may still reach them. Mapped to the history entry status the fatigue rule
# reads (policy.fatigue.counted_statuses): an approved offer is about to be scheduled, an offer in
# review may still go out.
HISTORY_STATUS: dict[str, str] = {
    SENT: "sent",
    APPROVED: "scheduled",
    PENDING_REVIEW: "pending_review",
    REVIEWING: "pending_review",
}
FATIGUE_STATUSES: frozenset[str] = frozenset(HISTORY_STATUS)

# Where a decision may be executed from: approved by the rules, or accepted by a reviewer who holds it.
EXECUTABLE = frozenset({APPROVED, REVIEWING})

# Draft fields stored on the row under the same name.
_DRAFT_COLUMNS = (
    "sku",
    "category",
    "discount_pct",
    "discount_cents",
    "bonus_points",
    "expires_in_days",
    "channel",
    "sms_text",
    "email_subject",
    "email_body",
    "rationale",
    "confidence",
    "strategy",
)


# -- draft <-> row -----------------------------------------------------------------------------


def draft_columns(draft: OfferDraft) -> dict[str, Any]:
    """The offer row's column values for a draft (the inverse of `draft_from_row`)."""
    values = {name: getattr(draft, name) for name in _DRAFT_COLUMNS}
    values["offer_type"] = draft.offer_type or ""
    return values


def draft_from_row(row: Offer) -> OfferDraft:
    """The draft an offer row holds (what a reviewer sees and edits)."""
    values: dict[str, Any] = {name: getattr(row, name) for name in _DRAFT_COLUMNS}
    values["make_offer"] = True
    values["offer_type"] = row.offer_type or None
    values["rationale"] = values["rationale"] or ""
    if values["confidence"] is None:
        values.pop("confidence")
    if values["expires_in_days"] is None:
        values.pop("expires_in_days")
    return OfferDraft.model_validate(values)


# -- transitions -------------------------------------------------------------------------------


# Statements built once; the values a call sets and the statuses it moves from come as parameters.
_OFFER_STATUS = select_columns(col(Offer.status)).where(col(Offer.id) == bindparam("offer_id"))
_INSERT_OFFER = insert(Offer)
_REWRITE_DRAFT = update(Offer).where(col(Offer.id) == bindparam("offer_id"), col(Offer.status) == DRAFTED)
_MOVE = update(Offer).where(
    col(Offer.id) == bindparam("offer_id"), col(Offer.status).in_(bindparam("from_statuses", expanding=True))
)


def _transition(session: Session, offer_id: str, from_: Iterable[str], to: str, **values: Any) -> bool:
    """Compare-and-set: move the row from one of `from_` to `to`; False when it was elsewhere."""
    if to != REVIEWING:
        values.setdefault("reviewing_until", None)
        values.setdefault("review_locked_by", None)
    values.update(status=to, updated_at=utcnow())
    return _update_row(session, _MOVE, offer_id, {"from_statuses": list(from_), **values})


def _update_row(session: Session, stmt: Any, offer_id: str, params: dict[str, Any]) -> bool:
    """One Core UPDATE of the offer row in the session's transaction (the ORM's UPDATE path costs more than
    the row); True when it changed the row. Like the ORM's execute it flushes pending objects first, and a
    row the session holds is expired so that it reads what was written."""
    result = core_connection(session).execute(stmt, {"offer_id": offer_id, **params})
    moved = bool(result.rowcount)
    if moved:
        held = session.identity_map.get(Session.identity_key(Offer, offer_id))
        if held is not None:
            session.expire(held)
    return moved


def current_status(session: Session, offer_id: str) -> str | None:
    """The row's status as it is now in the session's transaction (None: no such offer). One column through
    Core: loading the whole row (verdicts JSON, texts) to read it cost more than the read."""
    status: str | None = core_connection(session).execute(_OFFER_STATUS, {"offer_id": offer_id}).scalar_one_or_none()
    return status


def save_draft(
    session: Session,
    *,
    offer_id: str,
    merchant_id: str,
    customer_id: int,
    event_id: str,
    transaction_id: int | None,
    draft: OfferDraft,
    model: str | None,
    prompt_version: str | None,
    fallback_reason: str | None,
    campaign_id: str | None = None,
) -> bool:
    """Create the row (`drafted`; trigger `campaign` when `campaign_id` is given). A re-run after a crash
    rewrites a row still `drafted` and leaves a row that has moved on alone (False)."""
    now = utcnow()
    values = {**draft_columns(draft), "model": model, "prompt_version": prompt_version,
              "fallback_reason": fallback_reason, "status": DRAFTED, "updated_at": now}
    status = current_status(session, offer_id)
    if status is None:
        session.connection().execute(_INSERT_OFFER, {
            "id": offer_id, "merchant_id": merchant_id, "customer_id": customer_id, "event_id": event_id,
            "transaction_id": transaction_id, "campaign_id": campaign_id,
            "trigger": "campaign" if campaign_id else "transaction", "verdicts": [], "created_at": now, **values,
        })
        return True
    if status != DRAFTED:
        return False
    return _update_row(session, _REWRITE_DRAFT, offer_id, values)


def checked_values(
    *,
    offer_id: str,
    merchant_id: str,
    customer_id: int,
    event_id: str,
    campaign_id: str,
    draft: OfferDraft,
    model: str | None,
    prompt_version: str | None,
    fallback_reason: str | None,
    status: str,
    verdict: str,
    verdicts: list[dict[str, Any]],
    offer_value_cents: int,
    send_at: datetime | None,
) -> dict[str, Any]:
    """A campaign decision's row, already checked (-> approved | pending_review | blocked), as column values for
    `insert_checked`. The caller makes sure the row does not exist yet."""
    if status not in (APPROVED, PENDING_REVIEW, BLOCKED):
        raise ValueError(f"a checked draft cannot start as {status!r}")
    now = utcnow()
    return {"id": offer_id, "merchant_id": merchant_id, "customer_id": customer_id, "event_id": event_id,
            "transaction_id": None, "campaign_id": campaign_id, "trigger": "campaign", "status": status,
            "model": model, "prompt_version": prompt_version, "fallback_reason": fallback_reason,
            "verdict": verdict, "verdicts": verdicts, "offer_value_cents": offer_value_cents,
            "scheduled_for": send_at, "created_at": now, "updated_at": now, **draft_columns(draft)}


def insert_checked(session: Session, rows: list[dict[str, Any]]) -> None:
    """Many `checked_values` rows in one executemany in the caller's transaction (a campaign chunk writes
    hundreds: an ORM object per row cost more than its draft)."""
    if rows:
        session.connection().execute(insert(Offer), rows)


def record_verdicts(
    session: Session,
    offer_id: str,
    *,
    to: str,
    verdict: str,
    verdicts: list[dict[str, Any]],
    offer_value_cents: int,
    send_at: datetime | None,
) -> bool:
    """The rules' verdicts on a fresh draft or a reviewer's edit: drafted|reviewing -> approved |
    pending_review | blocked, or reviewing -> reviewing (a manager's edit, executed next)."""
    if to not in (APPROVED, PENDING_REVIEW, BLOCKED, REVIEWING):
        raise ValueError(f"verdicts cannot move an offer to {to!r}")
    # A manager's edit that the rules let through stays `reviewing` (under the lease) until executed.
    from_ = (REVIEWING,) if to == REVIEWING else (DRAFTED, REVIEWING)
    return _transition(session, offer_id, from_, to, verdict=verdict, verdicts=verdicts,
                       offer_value_cents=offer_value_cents, scheduled_for=send_at)


def claim_review(engine: Engine, offer_id: str, *, reviewer: str, lease_s: float) -> bool:
    """pending_review (or reviewing with an expired lease) -> reviewing, held by `reviewer` (a claim token
    unique to this review) for `lease_s` seconds. Two reviewers never resume the same decision twice."""
    now = utcnow()
    with Session(engine) as session:
        result = session.execute(
            update(Offer)
            .where(
                col(Offer.id) == offer_id,
                (col(Offer.status) == PENDING_REVIEW)
                | ((col(Offer.status) == REVIEWING) & (col(Offer.reviewing_until) < now)),
            )
            .values(status=REVIEWING, review_locked_by=reviewer, reviewing_until=now + timedelta(seconds=lease_s),
                    updated_at=now)
        )
        session.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]


def release_review(engine: Engine, offer_id: str, *, claim: str) -> bool:
    """reviewing -> pending_review, only while `claim` still holds the lease: the review ended without
    moving the offer on (refused input, error). A claim that expired and was taken over releases nothing."""
    with Session(engine) as session:
        result = session.execute(
            update(Offer)
            .where(col(Offer.id) == offer_id, col(Offer.status) == REVIEWING, col(Offer.review_locked_by) == claim)
            .values(status=PENDING_REVIEW, reviewing_until=None, review_locked_by=None, updated_at=utcnow())
        )
        session.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]


def reclaim_expired_reviews(engine: Engine, *, now: datetime | None = None) -> list[str]:
    """reviewing with an expired lease -> pending_review (the reviewing process died). Returns the ids."""
    now = now or utcnow()
    with Session(engine) as session:
        result = session.execute(
            update(Offer)
            .where(col(Offer.status) == REVIEWING, col(Offer.reviewing_until) < now)
            .values(status=PENDING_REVIEW, reviewing_until=None, review_locked_by=None, updated_at=now)
            .returning(col(Offer.id))
        )
        ids = list(result.scalars())
        session.commit()
        return ids


def apply_edit(session: Session, offer_id: str, draft: OfferDraft, *, marketer: str | None) -> dict[str, Any] | None:
    """Store a reviewer's edited draft on the row (still `reviewing`). Returns the before/after of each
    changed field, or None when the row is no longer under review. `marketer` marks a copy edit that
    waits for a manager."""
    row = session.get(Offer, offer_id)
    if row is None or row.status != REVIEWING:
        return None
    after = draft_columns(draft)
    changes = {
        name: {"before": getattr(row, name), "after": value}
        for name, value in after.items()
        if getattr(row, name) != value
    }
    values: dict[str, Any] = dict(after)
    if marketer is not None:
        values["reviewed_by_marketer"] = marketer
    if not _transition(session, offer_id, (REVIEWING,), REVIEWING, **values):
        return None
    session.expire(row)
    return changes


def reject(session: Session, offer_id: str, *, reviewer: str) -> bool:
    """reviewing -> rejected."""
    return _transition(session, offer_id, (REVIEWING,), REJECTED, decided_by=reviewer)


def mark_sent(
    session: Session,
    offer_id: str,
    *,
    promo_code: str | None,
    scheduled_for: datetime,
    expires_at: datetime,
    decided_by: str,
    verdict: str,
    verdicts: list[dict[str, Any]],
) -> bool:
    """approved|reviewing -> sent: the promo code / points and the message exist. `decided_by` is the
    person whose accept executed it, or `agent` when the rules passed it without review."""
    return _transition(session, offer_id, EXECUTABLE, SENT, promo_code=promo_code, scheduled_for=scheduled_for,
                       expires_at=expires_at, decided_by=decided_by, verdict=verdict, verdicts=verdicts)


def block_at_execution(session: Session, offer_id: str, *, verdicts: list[dict[str, Any]]) -> bool:
    """approved|reviewing -> blocked: the re-check right before any side effect failed a rule."""
    return _transition(session, offer_id, EXECUTABLE, BLOCKED, verdict="block", verdicts=verdicts)


def return_to_review(session: Session, offer_id: str, *, verdicts: list[dict[str, Any]]) -> bool:
    """approved|reviewing -> pending_review: the re-check before execution found an escalation nobody
    has reviewed yet."""
    return _transition(session, offer_id, EXECUTABLE, PENDING_REVIEW, verdict="escalate", verdicts=verdicts)


def hand_to_worker(session: Session, offer_id: str) -> bool:
    """reviewing -> approved: an accepted decision whose execution the worker will resume."""
    return _transition(session, offer_id, (REVIEWING,), APPROVED)


def block_pending(session: Session, offer_id: str, *, verdicts: list[dict[str, Any]]) -> bool:
    """pending_review -> blocked: a profile change made a rule fail while the offer waited for review."""
    return _transition(session, offer_id, (PENDING_REVIEW,), BLOCKED, verdict="block", verdicts=verdicts)


def refresh_pending_verdicts(session: Session, offer_id: str, *, verdict: str, verdicts: list[dict[str, Any]]) -> bool:
    """pending_review stays pending_review with the verdicts of a re-check (the reviewer sees them)."""
    return _transition(session, offer_id, (PENDING_REVIEW,), PENDING_REVIEW, verdict=verdict, verdicts=verdicts)


def cancel_sent(session: Session, offer_id: str, *, verdicts: list[dict[str, Any]]) -> bool:
    """sent -> cancelled: its message had not gone out when a profile change made a rule fail."""
    return _transition(session, offer_id, (SENT,), CANCELLED, verdict="block", verdicts=verdicts)


# -- queries -----------------------------------------------------------------------------------


def customer_offers(session: Session, *, customer_id: int, statuses: Iterable[str]) -> list[Offer]:
    return list(
        session.exec(
            select(Offer)
            .where(col(Offer.customer_id) == customer_id, col(Offer.status).in_(tuple(statuses)))
            .order_by(col(Offer.created_at))
        ).all()
    )
