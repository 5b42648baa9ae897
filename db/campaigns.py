"""Campaign and recipient lifecycles: every write of `campaign.status` and `campaign_recipient.status` goes
through the transitions below.

Campaign (`campaign.status`):

    create --> planning --claim_planning (lease)--> claimed --finish_planning (plan stored)--> pending_approval
                 ^  ^                                 |  |
                 |  +--lease expired (planner died)---+  +--fail_planning (error, last attempt) or claimed
                 |                                          MAX times without finishing--> planning_failed
                 +--replan (any change before running: version + 1, approval and plan cleared; from planning,
                            planning_failed, pending_approval or approved)

    pending_approval --approve (manager, this version)--> approved --claim_due (send_at <= now)--> running
    running --all recipients settled--> completed
    planning | planning_failed | pending_approval | approved --cancel--> cancelled
    running with an expired lease (the runner died) --claim_due--> running (another runner resumes it)

Planners are the worker's campaign loop and `loyalty-agent campaigns run-due` (agent.campaigns.service.plan).

Recipient (`campaign_recipient.status`), written when the run starts (eligibility first, then the split):

    arm holdout        --> holdout          (terminal: the "would have sent" row; nothing is sent)
    arm global_control --> global_control   (terminal: the policy's standing control group)
    arm treatment      --> pending --claim_recipient--> running --settle--> decided (offer_id: the offer row
                                                          |                 tells sent / blocked / in review)
                                                          |      --settle--> no_offer | ineligible | skipped_fatigue
                                                          +--lease expired--> claimable again (the decision's
                                                                              thread resumes: exactly once)

Every transition is a compare-and-set (`UPDATE .. WHERE status IN (...)`) that returns False and changes
nothing when the row has moved on. Callers pass their own Session where a status must commit together
with other rows.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from db.tables import Campaign, CampaignRecipient, Offer, OutboundMessage
from db.types import utcnow

# -- campaign statuses ---------------------------------------------------------------------------
PLANNING = "planning"  # the plan for approval is being computed in the background
PLANNING_FAILED = "planning_failed"  # `plan_error` says why; a change plans it again
PENDING_APPROVAL = "pending_approval"
APPROVED = "approved"
RUNNING = "running"
COMPLETED = "completed"
CANCELLED = "cancelled"
CAMPAIGN_STATUSES: tuple[str, ...] = (PLANNING, PLANNING_FAILED, PENDING_APPROVAL, APPROVED, RUNNING, COMPLETED,
                                      CANCELLED)
# A change re-plans (and resets any approval); once running it is too late.
CHANGEABLE = (PLANNING, PLANNING_FAILED, PENDING_APPROVAL, APPROVED)
PLAN_ERROR_MAX = 1000  # characters of `plan_error` kept

# -- recipient arms and statuses -----------------------------------------------------------------
TREATMENT = "treatment"
HOLDOUT = "holdout"
GLOBAL_CONTROL = "global_control"
ARMS: tuple[str, ...] = (TREATMENT, HOLDOUT, GLOBAL_CONTROL)

R_PENDING = "pending"
R_RUNNING = "running"
R_DECIDED = "decided"
R_NO_OFFER = "no_offer"
R_INELIGIBLE = "ineligible"
R_SKIPPED_FATIGUE = "skipped_fatigue"
R_HOLDOUT = "holdout"
R_GLOBAL_CONTROL = "global_control"
RECIPIENT_STATUSES: tuple[str, ...] = (
    R_PENDING, R_RUNNING, R_DECIDED, R_NO_OFFER, R_INELIGIBLE, R_SKIPPED_FATIGUE, R_HOLDOUT, R_GLOBAL_CONTROL,
)
SETTLED = frozenset({R_DECIDED, R_NO_OFFER, R_INELIGIBLE, R_SKIPPED_FATIGUE, R_HOLDOUT, R_GLOBAL_CONTROL})
_FIRST_STATUS = {TREATMENT: R_PENDING, HOLDOUT: R_HOLDOUT, GLOBAL_CONTROL: R_GLOBAL_CONTROL}


def new_campaign_id() -> str:
    return "cmp_" + secrets.token_hex(10)


def recipient_event_id(campaign_id: str, customer_id: int) -> str:
    """The decision's thread id and correlation id: one per campaign and guest, so a re-run finds the same
    thread, the same offer id and the same idempotency keys."""
    return f"{campaign_id}:c{customer_id}"


# -- campaign transitions ------------------------------------------------------------------------


def _transition(session: Session, campaign_id: str, from_: Iterable[str], to: str, *where: Any, **values: Any) -> bool:
    result = session.execute(
        update(Campaign)
        .where(col(Campaign.id) == campaign_id, col(Campaign.status).in_(tuple(from_)), *where)
        .values(status=to, updated_at=utcnow(), **values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def create(session: Session, campaign: Campaign) -> Campaign:
    """Insert a new campaign, `planning` at version 1: the plan is computed in the background."""
    campaign.status, campaign.version, campaign.estimate = PLANNING, 1, {}
    campaign.plan_attempts, campaign.plan_error = 0, None
    campaign.approved_version = campaign.approved_by = campaign.approved_at = None
    session.add(campaign)
    session.flush()
    return campaign


def replan(session: Session, campaign_id: str, *, version: int, **changes: Any) -> bool:
    """planning|planning_failed|pending_approval|approved -> planning with `changes` applied, the version
    bumped, the approval and the old plan cleared (any change after approval resets it; a planner still
    working on the old version loses its claim). Compare-and-set on the version the caller read, so two
    editors never overwrite each other unseen."""
    return _transition(
        session, campaign_id, CHANGEABLE, PLANNING, col(Campaign.version) == version,
        version=version + 1, approved_version=None, approved_by=None, approved_at=None,
        estimate={}, plan_attempts=0, plan_error=None, locked_by=None, locked_until=None, **changes,
    )


def planning_ids(engine: Engine, *, merchant_id: str) -> list[str]:
    """Campaigns waiting for their plan: in `planning`, with no planner holding a live lease."""
    with Session(engine) as session:
        return list(session.exec(
            select(Campaign.id)
            .where(col(Campaign.merchant_id) == merchant_id, col(Campaign.status) == PLANNING,
                   col(Campaign.locked_until).is_(None) | (col(Campaign.locked_until) < utcnow()))
            .order_by(col(Campaign.created_at))
        ).all())


def claim_planning(engine: Engine, campaign_id: str, *, planner: str, lease_s: float,
                   max_attempts: int) -> Campaign | None:
    """planning (unleased, or its planner's lease expired) -> planning leased to `planner`, one attempt more;
    returns the row as claimed, or None when another planner holds it or it moved on. A plan already claimed
    `max_attempts` times without finishing (its planners died) goes to planning_failed instead."""
    now = utcnow()
    with Session(engine, expire_on_commit=False) as session:
        row = session.get(Campaign, campaign_id)
        if row is None or row.status != PLANNING:
            return None
        same = (col(Campaign.locked_until).is_(None) | (col(Campaign.locked_until) < now),
                col(Campaign.version) == row.version, col(Campaign.plan_attempts) == row.plan_attempts)
        if row.plan_attempts >= max_attempts:
            error = f"planning stopped {row.plan_attempts} times without finishing (the planner died or was killed)"
            _transition(session, campaign_id, (PLANNING,), PLANNING_FAILED, *same, locked_by=None, locked_until=None,
                        plan_error=_clip(error + (f"; last error: {row.plan_error}" if row.plan_error else "")))
            session.commit()
            return None
        claimed = _transition(session, campaign_id, (PLANNING,), PLANNING, *same, locked_by=planner,
                              locked_until=now + timedelta(seconds=lease_s), plan_attempts=row.plan_attempts + 1)
        session.commit()
    if not claimed:
        return None
    with Session(engine, expire_on_commit=False) as session:
        return session.get(Campaign, campaign_id)


def renew_planning(engine: Engine, campaign_id: str, *, planner: str, version: int, lease_s: float) -> bool:
    """Extend `planner`'s lease on this version's plan; False once the campaign changed or moved on."""
    with Session(engine) as session:
        ok = _transition(
            session, campaign_id, (PLANNING,), PLANNING, col(Campaign.locked_by) == planner,
            col(Campaign.version) == version, locked_until=utcnow() + timedelta(seconds=lease_s),
        )
        session.commit()
        return ok


def finish_planning(session: Session, campaign_id: str, *, planner: str, version: int,
                    estimate: dict[str, Any]) -> bool:
    """planning -> pending_approval with the plan stored, by the planner holding this version's claim (a
    change meanwhile makes this a no-op: the new version gets its own plan)."""
    return _transition(
        session, campaign_id, (PLANNING,), PENDING_APPROVAL, col(Campaign.locked_by) == planner,
        col(Campaign.version) == version, estimate=estimate, plan_error=None, locked_by=None, locked_until=None,
    )


def fail_planning(session: Session, campaign_id: str, *, planner: str, version: int, error: str,
                  final: bool) -> bool:
    """The plan raised `error`: with `final`, planning -> planning_failed; otherwise the claim is released at
    once (another attempt may follow) with the error kept to show meanwhile."""
    return _transition(
        session, campaign_id, (PLANNING,), PLANNING_FAILED if final else PLANNING,
        col(Campaign.locked_by) == planner, col(Campaign.version) == version,
        plan_error=_clip(error), locked_by=None, locked_until=None if final else utcnow() - timedelta(seconds=1),
    )


def _clip(error: str) -> str:
    return error if len(error) <= PLAN_ERROR_MAX else error[: PLAN_ERROR_MAX - 1] + "…"


def approve(session: Session, campaign_id: str, *, version: int, approved_by: str) -> bool:
    """pending_approval -> approved, for exactly the version the approver saw."""
    return _transition(
        session, campaign_id, (PENDING_APPROVAL,), APPROVED, col(Campaign.version) == version,
        approved_version=version, approved_by=approved_by, approved_at=utcnow(),
    )


def cancel(session: Session, campaign_id: str) -> bool:
    """planning|planning_failed|pending_approval|approved -> cancelled (a planner at work loses its claim)."""
    return _transition(session, campaign_id, CHANGEABLE, CANCELLED, locked_by=None, locked_until=None)


@dataclass(frozen=True)
class Claim:
    campaign_id: str
    runner: str
    first_start: bool  # True: this claim started the campaign (its recipients are to be planned now)


def due_campaign_ids(engine: Engine, *, merchant_id: str, now: datetime) -> list[str]:
    """Approved campaigns whose send time has come, and running ones whose runner's lease is over."""
    with Session(engine) as session:
        return list(
            session.exec(
                select(Campaign.id)
                .where(
                    col(Campaign.merchant_id) == merchant_id,
                    or_(
                        (col(Campaign.status) == APPROVED)
                        & (col(Campaign.approved_version) == col(Campaign.version))
                        & (col(Campaign.send_at).is_(None) | (col(Campaign.send_at) <= now)),
                        (col(Campaign.status) == RUNNING) & (col(Campaign.locked_until) < utcnow()),
                    ),
                )
                .order_by(col(Campaign.created_at))
            ).all()
        )


def claim(engine: Engine, campaign_id: str, *, now: datetime, runner: str, lease_s: float) -> Claim | None:
    """approved (this version, due) -> running, or running with an expired lease -> running under `runner`.
    `started_at` is the campaign clock's `now` at the first start (the report window opens there)."""
    lease_until = utcnow() + timedelta(seconds=lease_s)
    with Session(engine) as session:
        started = _transition(
            session, campaign_id, (APPROVED,), RUNNING,
            col(Campaign.approved_version) == col(Campaign.version),
            col(Campaign.send_at).is_(None) | (col(Campaign.send_at) <= now),
            started_at=now, locked_by=runner, locked_until=lease_until,
        )
        resumed = started or _transition(
            session, campaign_id, (RUNNING,), RUNNING, col(Campaign.locked_until) < utcnow(),
            locked_by=runner, locked_until=lease_until,
        )
        session.commit()
    return Claim(campaign_id, runner, first_start=started) if resumed else None


def renew(engine: Engine, campaign_id: str, *, runner: str, lease_s: float) -> bool:
    """Extend `runner`'s lease on a running campaign; False when another runner took it over."""
    with Session(engine) as session:
        ok = _transition(
            session, campaign_id, (RUNNING,), RUNNING, col(Campaign.locked_by) == runner,
            locked_until=utcnow() + timedelta(seconds=lease_s),
        )
        session.commit()
        return ok


def complete(engine: Engine, campaign_id: str, *, runner: str, at: datetime) -> bool:
    """running -> completed, by the runner holding it, once no treatment recipient is left unsettled."""
    with Session(engine) as session:
        open_rows = session.exec(
            select(func.count())
            .select_from(CampaignRecipient)
            .where(col(CampaignRecipient.campaign_id) == campaign_id,
                   col(CampaignRecipient.status).in_((R_PENDING, R_RUNNING)))
        ).one()
        if open_rows:
            return False
        ok = _transition(session, campaign_id, (RUNNING,), COMPLETED, col(Campaign.locked_by) == runner,
                         completed_at=at, locked_by=None, locked_until=None)
        session.commit()
        return ok


def release(engine: Engine, campaign_id: str, *, runner: str) -> bool:
    """Give a running campaign back at once (the runner stops early): another runner may claim it now."""
    with Session(engine) as session:
        ok = _transition(session, campaign_id, (RUNNING,), RUNNING, col(Campaign.locked_by) == runner,
                         locked_by=None, locked_until=utcnow() - timedelta(seconds=1))
        session.commit()
        return ok


# -- recipients ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedRecipient:
    customer_id: int
    arm: str
    bucket: int
    reason: str


def add_recipients(session: Session, campaign_id: str, planned: Sequence[PlannedRecipient], *, at: datetime) -> int:
    """Write the run's recipients (eligible audience, split into arms). Holdout and global-control rows are
    final at once; treatment rows wait as `pending`. A guest already on the campaign is left as is."""
    existing = set(
        session.exec(select(CampaignRecipient.customer_id).where(col(CampaignRecipient.campaign_id) == campaign_id))
    )
    rows = [
        {
            "campaign_id": campaign_id, "customer_id": p.customer_id, "arm": p.arm, "bucket": p.bucket,
            "status": _FIRST_STATUS[p.arm], "reason": p.reason,
            "event_id": recipient_event_id(campaign_id, p.customer_id), "planned_at": at,
            "decided_at": at if p.arm != TREATMENT else None,
        }
        for p in planned
        if p.customer_id not in existing
    ]
    if rows:
        session.execute(CampaignRecipient.__table__.insert(), rows)  # type: ignore[attr-defined]
    return len(rows)


def claim_recipients(engine: Engine, campaign_id: str, *, limit: int, lease_s: float) -> list[CampaignRecipient]:
    """Up to `limit` treatment recipients to decide now: pending ones, and running ones whose lease expired
    (their decision's thread resumes where it stopped). One compare-and-set UPDATE moves them to `running`;
    a recipient another runner claimed meanwhile is not in it."""
    now = utcnow()
    claimable = (col(CampaignRecipient.status) == R_PENDING) | (
        (col(CampaignRecipient.status) == R_RUNNING) & (col(CampaignRecipient.locked_until) < now))
    with Session(engine, expire_on_commit=False) as session:
        candidates = session.exec(
            select(CampaignRecipient)
            .where(col(CampaignRecipient.campaign_id) == campaign_id, claimable)
            .order_by(col(CampaignRecipient.id))
            .limit(limit)
        ).all()
        claimed = set(session.execute(
            update(CampaignRecipient)
            .where(col(CampaignRecipient.id).in_([r.id for r in candidates]), claimable)
            .values(status=R_RUNNING, locked_until=now + timedelta(seconds=lease_s))
            .returning(col(CampaignRecipient.id))
            .execution_options(synchronize_session=False)
        ).scalars())
        session.commit()
    return [r for r in candidates if r.id in claimed]


def settle(session: Session, recipient_id: int, *, to: str, reason: str | None = None,
           offer_id: str | None = None, at: datetime | None = None) -> bool:
    """running -> decided | no_offer | ineligible | skipped_fatigue."""
    if to not in (R_DECIDED, R_NO_OFFER, R_INELIGIBLE, R_SKIPPED_FATIGUE):
        raise ValueError(f"a recipient cannot settle as {to!r}")
    result = session.execute(
        update(CampaignRecipient)
        .where(col(CampaignRecipient.id) == recipient_id, col(CampaignRecipient.status) == R_RUNNING)
        .values(status=to, reason=reason, offer_id=offer_id, decided_at=at or utcnow(), locked_until=None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# -- queries ---------------------------------------------------------------------------------------


def recipient_counts(session: Session, campaign_id: str) -> dict[str, int]:
    """Recipients per status, and their offers per offer status (`offer:<status>`)."""
    counts: dict[str, int] = {}
    for status, n in session.exec(
        select(CampaignRecipient.status, func.count())
        .where(col(CampaignRecipient.campaign_id) == campaign_id)
        .group_by(col(CampaignRecipient.status))
    ).all():
        counts[status] = int(n)
    for status, n in session.exec(
        select(Offer.status, func.count())
        .join(CampaignRecipient, col(CampaignRecipient.offer_id) == col(Offer.id))
        .where(col(CampaignRecipient.campaign_id) == campaign_id)
        .group_by(col(Offer.status))
    ).all():
        counts[f"offer:{status}"] = int(n)
    return counts


def recipients(session: Session, campaign_id: str, *, arms: Sequence[str] = ARMS) -> list[CampaignRecipient]:
    return list(
        session.exec(
            select(CampaignRecipient)
            .where(col(CampaignRecipient.campaign_id) == campaign_id, col(CampaignRecipient.arm).in_(tuple(arms)))
            .order_by(col(CampaignRecipient.id))
        ).all()
    )


def treatment_progress(engine: Engine, campaign_id: str) -> tuple[int, int]:
    """(treatment recipients, how many of them are settled)."""
    with Session(engine) as session:
        rows = session.exec(
            select(CampaignRecipient.status, func.count())
            .where(col(CampaignRecipient.campaign_id) == campaign_id, col(CampaignRecipient.arm) == TREATMENT)
            .group_by(col(CampaignRecipient.status))
        ).all()
    total = sum(int(n) for _status, n in rows)
    return total, sum(int(n) for status, n in rows if status in SETTLED)


def campaign_counts(session: Session, campaign_id: str) -> dict[str, Any]:
    """What the campaign came to so far, per recipient: arms, then the treatment guests' outcomes. An offer
    counts as `sent` once its message went out, `scheduled` while the message waits (quiet hours) and
    `undeliverable` when the sender refused it (consent or address gone at send time); `escalated` offers wait
    for a person; `blocked_rules` lists the rules that blocked."""
    by_status = {status: 0 for status in RECIPIENT_STATUSES}
    arms = {arm: 0 for arm in ARMS}
    for arm, status, n in session.exec(
        select(CampaignRecipient.arm, CampaignRecipient.status, func.count())
        .where(col(CampaignRecipient.campaign_id) == campaign_id)
        .group_by(col(CampaignRecipient.arm), col(CampaignRecipient.status))
    ).all():
        arms[arm] += int(n)
        by_status[status] += int(n)
    offer_rows = session.exec(
        select(Offer.id, Offer.status, Offer.verdicts)
        .join(CampaignRecipient, col(CampaignRecipient.offer_id) == col(Offer.id))
        .where(col(CampaignRecipient.campaign_id) == campaign_id)
    ).all()
    message_status = dict(
        session.exec(
            select(OutboundMessage.offer_id, OutboundMessage.status)
            .join(CampaignRecipient, col(CampaignRecipient.offer_id) == col(OutboundMessage.offer_id))
            .where(col(CampaignRecipient.campaign_id) == campaign_id)
        ).all()
    )
    statuses = Counter(status for _id, status, _v in offer_rows)
    blocked_rules: Counter[str] = Counter(
        v.get("rule", "?") for _id, status, verdicts in offer_rows if status == "blocked"
        for v in verdicts if v.get("verdict") == "block"
    )
    sent_offers = [offer_id for offer_id, status, _v in offer_rows if status == "sent"]
    return {
        "audience": arms[TREATMENT] + arms[HOLDOUT],
        "treatment": arms[TREATMENT],
        "holdout": arms[HOLDOUT],
        "global_control": arms[GLOBAL_CONTROL],
        "pending": by_status[R_PENDING] + by_status[R_RUNNING],
        "drafted": len(offer_rows),
        "sent": sum(1 for offer_id in sent_offers if message_status.get(offer_id) == "sent"),
        "scheduled": sum(1 for offer_id in sent_offers if message_status.get(offer_id) in ("scheduled", "sending")),
        "undeliverable": sum(1 for offer_id in sent_offers if message_status.get(offer_id) in ("failed", "suppressed")),
        "blocked_by_rule": statuses["blocked"],
        "escalated": statuses["pending_review"] + statuses["reviewing"],
        "approved_not_executed": statuses["approved"],
        "rejected": statuses["rejected"],
        "cancelled": statuses["cancelled"],
        "skipped_fatigue": by_status[R_SKIPPED_FATIGUE],
        "ineligible_at_send": by_status[R_INELIGIBLE],
        "no_offer": by_status[R_NO_OFFER],
        "blocked_rules": dict(blocked_rules.most_common()),
    }


def recent(session: Session, *, merchant_id: str, limit: int = 50) -> list[Campaign]:
    """The merchant's campaigns, newest first."""
    return list(session.exec(select(Campaign).where(col(Campaign.merchant_id) == merchant_id)
                             .order_by(col(Campaign.created_at).desc()).limit(limit)).all())


def automatic_exists(session: Session, *, merchant_id: str, key: str) -> bool:
    return session.exec(
        select(Campaign.id).where(col(Campaign.merchant_id) == merchant_id, col(Campaign.automatic_key) == key)
    ).first() is not None
