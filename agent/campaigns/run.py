"""Running due campaigns (`loyalty-agent campaigns run-due`, and the worker on its own schedule).

For each approved campaign whose send time has come on the merchant's clock:
1. claim it (compare-and-set with a lease: one runner at a time; a dead runner's campaign is taken over);
2. at its first start, plan the recipients: eligibility over the audience, then the deterministic split,
   written as rows (holdout rows are the "would have sent" record and get nothing);
3. for each treatment guest: re-check eligibility on fresh facts, skip when every consented channel is
   over the fatigue caps (shared with real-time offers), else run the guest's decision as a thread of the
   offer graph (retrieval, drafter, guardrails, review, execute with quiet hours deferring the message);
4. settle the recipient row and, once none is left, complete the campaign.
A guest is decided once per campaign: the thread id, offer id and idempotency keys all derive from
(campaign, guest), and a recipient left `running` by a crash resumes its thread instead of starting anew.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from agent.campaigns import audience as audiences
from agent.campaigns import batch
from agent.campaigns.eligibility import GuestSnapshot, check, reachable_channels
from agent.campaigns.service import ensure_automatic
from agent.campaigns.spec import Audience, AudienceRule
from agent.context import AgentContext
from agent.drafting import reads_staff_notes
from agent.facts import jsonable, offer_id_for
from agent.runner import OfferAgent
from core.gc_tuning import paused_gc
from core.schemas import GuardrailReport
from db import campaigns as lifecycle
from db import offers
from db.engine import session_scope
from db.tables import Campaign, CampaignRecipient, Offer
from db.types import utcnow
from guardrails.fatigue import fatigue_violations
from guardrails.local_time import customer_zone, next_allowed_send_time
from tools.audit import insert_audit_rows

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""(campaign id, treatment recipients settled, treatment recipients in total), after every batch."""


@dataclass
class RunSummary:
    campaigns: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)


class CampaignRunner:
    """Runs a merchant's due campaigns with the process's offer agent."""

    def __init__(self, agent: OfferAgent, *, runner_id: str | None = None, batch_size: int = 200,
                 lease_s: float = 300.0) -> None:
        self.agent = agent
        self.runner_id = runner_id or f"campaigns:{socket.gethostname()}:{os.getpid()}"
        self.batch_size = batch_size
        self.lease_s = lease_s

    @property
    def engine(self) -> Engine:
        return self.agent.ctx.engine

    def run_due(self, merchant_id: str, *, progress: Progress | None = None, automatic: bool = True) -> RunSummary:
        """Run every due campaign of the merchant to completion (or until its lease is lost); with `automatic`,
        first start this period's campaigns of the kinds the policy runs on its own."""
        summary = RunSummary()
        if automatic:
            ensure_automatic(self.agent.ctx, merchant_id=merchant_id)
        ctx, now = self.agent.ctx.on_merchant_clock(merchant_id)
        self.resume_accepted(ctx, merchant_id)
        for campaign_id in lifecycle.due_campaign_ids(self.engine, merchant_id=merchant_id, now=now):
            claim = lifecycle.claim(self.engine, campaign_id, now=now, runner=self.runner_id, lease_s=self.lease_s)
            if claim is None:
                continue
            summary.campaigns.append(campaign_id)
            try:
                self._run(ctx, campaign_id, summary, progress)
            except Exception:
                log.exception("campaign %s: run failed; released for a later run", campaign_id)
                lifecycle.release(self.engine, campaign_id, runner=self.runner_id)
        return summary

    # -- one campaign ----------------------------------------------------------------------------

    def _run(self, ctx: AgentContext, campaign_id: str, summary: RunSummary, progress: Progress | None) -> None:
        with Session(self.engine, expire_on_commit=False) as session:
            campaign = session.get(Campaign, campaign_id)
            assert campaign is not None and campaign.started_at is not None
            planned = session.exec(
                select(func.count()).select_from(CampaignRecipient)
                .where(col(CampaignRecipient.campaign_id) == campaign_id)
            ).one()
        known = self._plan(ctx, campaign) if not planned else None
        total, done = lifecycle.treatment_progress(self.engine, campaign_id)
        if progress is not None:
            progress(campaign_id, done, total)
        while True:
            batch = lifecycle.claim_recipients(self.engine, campaign_id, limit=self.batch_size, lease_s=self.lease_s)
            if not batch:
                break
            for outcome in self._decide_chunk(ctx, campaign, batch, known):
                summary.outcomes[outcome] += 1
                done += 1
            if progress is not None:
                progress(campaign_id, done, total)
            if not lifecycle.renew(self.engine, campaign_id, runner=self.runner_id, lease_s=self.lease_s):
                log.warning("campaign %s: lease lost to another runner; stopping here", campaign_id)
                return
        lifecycle.complete(self.engine, campaign_id, runner=self.runner_id, at=ctx.now())

    def _plan(self, ctx: AgentContext, campaign: Campaign) -> audiences.KnownFeatures:
        """The eligible audience at the campaign's start, split into arms and written once; returns the
        features it was judged on (the send-time re-check recomputes only those of guests seen since)."""
        assert campaign.started_at is not None
        read_at = utcnow()
        with paused_gc(), session_scope(self.engine) as session:
            plan = audiences.plan(ctx, session, campaign, now=campaign.started_at)
            rows = [
                lifecycle.PlannedRecipient(m.guest.customer_id, m.arm, m.bucket, m.eligibility.reason)
                for m in plan.members
            ]
            added = lifecycle.add_recipients(session, campaign.id, rows, at=campaign.started_at)
        log.info("campaign %s: %d recipients planned (%d candidates)", campaign.id, added, plan.candidates)
        return audiences.KnownFeatures({m.guest.customer_id: m.guest.features for m in plan.members}, read_at)

    def _guests(self, ctx: AgentContext, campaign: Campaign, customer_ids: list[int],
                known: audiences.KnownFeatures | None) -> dict[int, GuestSnapshot]:
        with Session(self.engine) as session:
            guests = audiences.load_guests(ctx, session, merchant_id=campaign.merchant_id,
                                           customer_ids=customer_ids, now=ctx.now(), known=known)
        return {g.customer_id: g for g in guests}

    def _decide_chunk(self, ctx: AgentContext, campaign: Campaign, chunk: list[CampaignRecipient],
                      known: audiences.KnownFeatures | None = None) -> list[str]:
        """Re-check (guests as they are now; features recomputed for guests with a sale since planning),
        draft and check a chunk in memory (agent.campaigns.batch), write it in one transaction, then hand every
        decision that passed or escalated to its offer-graph thread (execute or review)."""
        with paused_gc():
            threads, outcomes = self._decide_in_memory(ctx, campaign, chunk, known)
        for recipient, state in threads:
            outcomes.append(self._continue(ctx, recipient, state))
        return outcomes

    def _decide_in_memory(self, ctx: AgentContext, campaign: Campaign, chunk: list[CampaignRecipient],
                          known: audiences.KnownFeatures | None
                          ) -> tuple[list[tuple[CampaignRecipient, dict[str, Any] | None]], list[str]]:
        """The chunk's re-check, drafts and verdicts, written in one transaction; returns the decisions to hand
        to their threads, and the outcomes of those that end here."""
        guests = self._guests(ctx, campaign, [r.customer_id for r in chunk], known)
        rule = Audience.model_validate(campaign.audience).filters
        with Session(self.engine) as session:
            facts = batch.ChunkFacts.load(ctx, session, [r.customer_id for r in chunk])
            existing = set(session.exec(
                select(Offer.id).where(col(Offer.id).in_([offer_id_for(r.event_id) for r in chunk]))).all())
        notes = reads_staff_notes(ctx.drafter)
        outcomes: list[str] = []
        settled: list[tuple[int, str, str | None, str | None]] = []  # recipient, status, reason, offer id
        threads: list[tuple[CampaignRecipient, dict[str, Any] | None]] = []
        offer_rows: list[dict[str, Any]] = []
        audit_rows: list[dict[str, Any]] = []
        with session_scope(self.engine) as session:
            for recipient in chunk:
                assert recipient.id is not None
                if offer_id_for(recipient.event_id) in existing:
                    threads.append((recipient, None))  # decided before a crash: its thread (or row) goes on
                    continue
                guest = guests.get(recipient.customer_id)
                skip = self._skip(ctx, campaign, rule, guest, facts)
                if skip is not None:
                    settled.append((recipient.id, skip[0], skip[1], None))
                    outcomes.append(skip[0])
                    continue
                assert guest is not None
                verdict = check(campaign_id=campaign.id, kind=campaign.kind, channel=campaign.channel,  # type: ignore[arg-type]
                                rule=rule, guest=guest, policy=ctx.policy.campaigns, now=ctx.now())
                assert verdict.brief is not None
                decision = batch.decide(ctx, merchant_id=campaign.merchant_id, event_id=recipient.event_id,
                                        guest=guest, brief=verdict.brief, facts=facts, notes=notes)
                state = decision.state(campaign.merchant_id)
                status = batch.record(decision, state, merchant_id=campaign.merchant_id, offer_rows=offer_rows,
                                      audit_rows=audit_rows)
                if status is None:
                    settled.append((recipient.id, lifecycle.R_NO_OFFER, decision.result.offer.rationale[:500], None))
                    outcomes.append("no_offer")
                elif status == offers.BLOCKED:
                    settled.append((recipient.id, lifecycle.R_DECIDED, "blocked", decision.offer_id))
                    outcomes.append("blocked")
                else:
                    threads.append((recipient, state))
            offers.insert_checked(session, offer_rows)  # the chunk's drafts, then their audit rows: one transaction
            insert_audit_rows(session, audit_rows)
            for recipient_id, status, reason, offer_id in settled:
                lifecycle.settle(session, recipient_id, to=status, reason=reason, offer_id=offer_id, at=ctx.now())
        return threads, outcomes

    def _continue(self, ctx: AgentContext, recipient: CampaignRecipient, state: dict[str, Any] | None) -> str:
        """The decision's thread from `check_guardrails` on: execute (re-check, then the side effects) or
        review. `state` None: a decision made before a crash, resumed from its thread or its offer row."""
        assert recipient.id is not None
        config = self.agent.config(recipient.event_id)
        if state is None and not self.agent.graph.get_state(config).values:
            state = self._state_from_row(recipient)
        if state is not None:
            self.agent.graph.update_state(config, state, as_node="check_guardrails")
        outcome = self.agent.run_thread(recipient.event_id, {}, context=ctx)
        with session_scope(self.engine) as session:
            lifecycle.settle(session, recipient.id, to=lifecycle.R_DECIDED, reason=outcome,
                             offer_id=offer_id_for(recipient.event_id), at=ctx.now())
        return outcome

    def _state_from_row(self, recipient: CampaignRecipient) -> dict[str, Any] | None:
        """The state after `check_guardrails` of a decision whose row was written but whose thread was not
        (a crash in between): the draft and verdicts as the row holds them, never a new draft."""
        with Session(self.engine) as session:
            row = session.get(Offer, offer_id_for(recipient.event_id))
        if row is None or row.status not in offers.EXECUTABLE | {offers.PENDING_REVIEW}:
            return None  # settled (blocked, sent, cancelled): the thread has nothing left to do
        # A row waiting for review stays with a person (whatever its verdict: a downgrade notice passes the rules).
        verdict = "escalate" if row.status == offers.PENDING_REVIEW else row.verdict or "escalate"
        report = GuardrailReport(verdict=verdict, results=row.verdicts, send_at=row.scheduled_for)  # type: ignore[arg-type]
        return {"event_id": recipient.event_id, "merchant_id": row.merchant_id, "customer_id": row.customer_id,
                "campaign": None, "draft": jsonable(offers.draft_from_row(row)), "offer_id": row.id,
                "verdict": report.verdict, "report": report.model_dump(mode="json"),
                "steps": list(batch.STEPS_BEFORE_ROUTING)}

    def _skip(self, ctx: AgentContext, campaign: Campaign, rule: AudienceRule, guest: GuestSnapshot | None,
              facts: batch.ChunkFacts) -> tuple[str, str] | None:
        """Why this guest gets no decision now: no longer eligible, or every channel over the fatigue caps
        (counted across campaigns and real-time offers)."""
        if guest is None:
            return lifecycle.R_INELIGIBLE, "guest no longer exists"
        now = ctx.now()
        verdict = check(campaign_id=campaign.id, kind=campaign.kind, channel=campaign.channel,  # type: ignore[arg-type]
                        rule=rule, guest=guest, policy=ctx.policy.campaigns, now=now)
        if not verdict.eligible:
            return lifecycle.R_INELIGIBLE, f"at send time: {verdict.reason}"
        history = facts.histories.get(guest.customer_id, [])
        zone_name, _own = customer_zone(guest.facts.timezone, ctx.policy.quiet_hours.default_timezone)
        send_at = next_allowed_send_time(now.astimezone(UTC), zone_name, ctx.policy.quiet_hours)
        closed = {}
        for channel in reachable_channels(guest, campaign.channel):
            violations, _counts = fatigue_violations(history, send_at=send_at, channel=channel,
                                                     policy=ctx.policy.fatigue)
            if not violations:
                return None
            closed[channel] = "; ".join(violations)
        return lifecycle.R_SKIPPED_FATIGUE, "; ".join(f"{c}: {why}" for c, why in closed.items())

    # -- accepted reviews whose execution was handed over ---------------------------------------------

    def resume_accepted(self, ctx: AgentContext, merchant_id: str) -> int:
        """Campaign offers a reviewer accepted while the POS was down (`approved`, thread unfinished): a
        sale's decision is requeued in the inbox; a campaign's is resumed here, re-checking every rule."""
        with Session(self.engine) as session:
            event_ids = session.exec(
                select(CampaignRecipient.event_id)
                .join(Offer, col(Offer.id) == col(CampaignRecipient.offer_id))
                .where(col(Offer.merchant_id) == merchant_id, col(Offer.status) == offers.APPROVED)
            ).all()
        resumed = 0
        for event_id in event_ids:
            snapshot = self.agent.graph.get_state(self.agent.config(event_id))
            if snapshot.next and not any(task.interrupts for task in snapshot.tasks):
                self.agent.run_thread(event_id, {}, context=ctx)
                resumed += 1
        return resumed

