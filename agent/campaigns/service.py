"""Creating, changing and approving campaigns, and planning them: the plan a manager approves.

`create` and `update` validate the campaign (a segment query is resolved then: one embedding and one search)
and store it in `planning`; the plan itself is computed in the background by `plan` (the worker's campaign
loop and `loyalty-agent campaigns run-due` call `plan_pending`), because on a real merchant it takes minutes:
eligibility and the split over every candidate, 20 sample drafts. The plan (`preview`): audience and holdout
sizes from the real eligibility and split, a few real drafts with their guardrail verdicts (decided as the
run decides, agent.campaigns.batch: the same draft input, drafter and rules; nothing is written or sent), and
the estimated cost. A planner claims a campaign with a lease it renews while it works, so two planners never
both plan it and a dead planner's campaign is planned by another (db.campaigns). A change re-plans and
resets any approval (db.campaigns.replan); an approval names the version it saw.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from statistics import fmean
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from agent.campaigns import audience as audiences
from agent.campaigns import batch
from agent.campaigns.audience import Member
from agent.campaigns.spec import Audience, AudienceRule, CampaignSpec
from agent.context import AgentContext
from agent.drafting import reads_staff_notes
from agent.pricing import margin_after_discount
from db import campaigns as lifecycle
from db.engine import session_scope
from db.tables import Campaign

log = logging.getLogger(__name__)

SAMPLE_DRAFTS = 3  # shown with the plan
COST_SAMPLE = 20  # drafted to estimate the cost
PLAN_LEASE_S = 120.0  # a planner's claim; renewed every third of it while the plan is computed
PLAN_MAX_ATTEMPTS = 3  # claims of one version's plan before it is planning_failed


class CampaignError(ValueError):
    """The campaign cannot be created or changed as asked (422)."""


class CampaignNotFound(LookupError):
    """No such campaign for this merchant (404)."""


class CampaignConflict(RuntimeError):
    """The campaign is not in a state that allows this (409): running, completed, or changed meanwhile."""


def spec_of(campaign: Campaign) -> CampaignSpec:
    return CampaignSpec(
        name=campaign.name, kind=campaign.kind, audience=Audience.model_validate(campaign.audience),  # type: ignore[arg-type]
        holdout_pct=campaign.holdout_pct, channel=campaign.channel, send_at=campaign.send_at,  # type: ignore[arg-type]
        window_days=campaign.window_days,
    )


def _fields(ctx: AgentContext, spec: CampaignSpec, merchant_id: str) -> dict[str, Any]:
    """The campaign row's plan columns for `spec` (policy defaults filled in, query matches stored)."""
    policy = ctx.policy.campaigns
    snapshot = None
    if spec.audience.query is not None:
        try:
            snapshot = audiences.resolve_query(ctx, merchant_id=merchant_id, query=spec.audience.query,
                                               limit=spec.audience.limit)
        except audiences.AudienceUnavailable as exc:
            raise CampaignError(str(exc)) from exc
    return {
        "name": spec.name,
        "kind": spec.kind,
        "audience": spec.audience.model_dump(mode="json", exclude_none=True),
        "audience_snapshot": snapshot,
        "holdout_pct": spec.holdout_pct if spec.holdout_pct is not None else policy.default_holdout_pct,
        "channel": spec.channel,
        "send_at": spec.send_at,
        "window_days": spec.window_days or policy.report_window_days,
    }


def create(ctx: AgentContext, *, merchant_id: str, spec: CampaignSpec, created_by: str,
           automatic_key: str | None = None, salt: str | None = None) -> Campaign:
    """A new campaign in `planning`; `plan` computes its plan. `salt` fixes the split (reproducing an
    experiment); by default every campaign draws its own."""
    campaign = Campaign(id=lifecycle.new_campaign_id(), merchant_id=merchant_id, salt=salt or secrets.token_hex(8),
                        created_by=created_by, automatic_key=automatic_key, **_fields(ctx, spec, merchant_id))
    with session_scope(ctx.engine) as session:
        lifecycle.create(session, campaign)
    return campaign


def update(ctx: AgentContext, campaign_id: str, *, merchant_id: str, changes: dict[str, Any]) -> Campaign:
    """Apply a marketer's change: back to `planning` to be re-planned (an approval is reset). An empty
    change re-plans as it is (after planning_failed, say)."""
    campaign = get(ctx, campaign_id, merchant_id=merchant_id)
    if campaign.status not in lifecycle.CHANGEABLE:
        raise CampaignConflict(f"campaign {campaign_id} is {campaign.status}: too late to change it")
    current = spec_of(campaign).model_dump(mode="json", exclude_none=True)
    try:
        spec = CampaignSpec.model_validate({**current, **changes})
    except ValueError as exc:
        raise CampaignError(str(exc)) from exc
    fields = _fields(ctx, spec, merchant_id)
    with session_scope(ctx.engine) as session:
        if not lifecycle.replan(session, campaign_id, version=campaign.version, **fields):
            raise CampaignConflict(f"campaign {campaign_id} changed meanwhile; read it again")
    return get(ctx, campaign_id, merchant_id=merchant_id)


def approve(ctx: AgentContext, campaign_id: str, *, merchant_id: str, approved_by: str,
            version: int | None = None) -> Campaign:
    """pending_approval -> approved, for the version the approver saw (default: the current one)."""
    campaign = get(ctx, campaign_id, merchant_id=merchant_id)
    if campaign.status == lifecycle.PLANNING:
        raise CampaignConflict(f"campaign {campaign_id} is still being planned (status planning): approve it "
                               f"once GET /campaigns/{campaign_id} shows pending_approval with its plan")
    if campaign.status == lifecycle.PLANNING_FAILED:
        raise CampaignConflict(f"campaign {campaign_id} could not be planned ({campaign.plan_error}): nothing to "
                               "approve; change it (PATCH, an empty body will do) to plan it again")
    with session_scope(ctx.engine) as session:
        if not lifecycle.approve(session, campaign_id, version=version or campaign.version, approved_by=approved_by):
            raise CampaignConflict(
                f"campaign {campaign_id} is {campaign.status} at version {campaign.version}"
                + (f", not {version}" if version and version != campaign.version else "")
                + ": nothing to approve"
            )
    return get(ctx, campaign_id, merchant_id=merchant_id)


def cancel(ctx: AgentContext, campaign_id: str, *, merchant_id: str) -> Campaign:
    campaign = get(ctx, campaign_id, merchant_id=merchant_id)
    with session_scope(ctx.engine) as session:
        if not lifecycle.cancel(session, campaign_id):
            raise CampaignConflict(f"campaign {campaign_id} is {campaign.status}: it cannot be cancelled")
    return get(ctx, campaign_id, merchant_id=merchant_id)


def get(ctx: AgentContext, campaign_id: str, *, merchant_id: str) -> Campaign:
    with Session(ctx.engine, expire_on_commit=False) as session:
        campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.merchant_id != merchant_id:
        raise CampaignNotFound(f"no campaign {campaign_id!r}")
    return campaign


# -- planning in the background ------------------------------------------------------------------------


def plan_pending(ctx: AgentContext, *, merchant_id: str, planner: str | None = None,
                 lease_s: float = PLAN_LEASE_S, max_attempts: int = PLAN_MAX_ATTEMPTS) -> list[Campaign]:
    """Plan every campaign of the merchant waiting for its plan (one after another); returns those this call
    planned or failed to plan, as they now are."""
    done = []
    for campaign_id in lifecycle.planning_ids(ctx.engine, merchant_id=merchant_id):
        campaign = plan(ctx, campaign_id, planner=planner, lease_s=lease_s, max_attempts=max_attempts)
        if campaign is not None:
            done.append(campaign)
    return done


def plan(ctx: AgentContext, campaign_id: str, *, planner: str | None = None, lease_s: float = PLAN_LEASE_S,
         max_attempts: int = PLAN_MAX_ATTEMPTS) -> Campaign | None:
    """Claim the campaign's plan, compute it (`preview`) and store it: planning -> pending_approval, and a
    policy's automatic campaign is approved by the policy. An error is kept on the campaign (`plan_error`);
    on the last attempt the campaign is planning_failed. Returns the campaign as it then is, or None when it
    was not ours to plan (another planner holds it, it moved on, or it changed while it was planned)."""
    planner = planner or f"planner:{socket.gethostname()}:{os.getpid()}"
    campaign = lifecycle.claim_planning(ctx.engine, campaign_id, planner=planner, lease_s=lease_s,
                                        max_attempts=max_attempts)
    if campaign is None:
        return None
    try:
        with _lease_kept(ctx.engine, campaign, planner=planner, lease_s=lease_s):
            estimate = preview(ctx, campaign)
    except Exception as exc:
        final = campaign.plan_attempts >= max_attempts
        log.exception("campaign %s: planning failed (attempt %d of %d)", campaign_id, campaign.plan_attempts,
                      max_attempts)
        with session_scope(ctx.engine) as session:
            lifecycle.fail_planning(session, campaign_id, planner=planner, version=campaign.version,
                                    error=f"{type(exc).__name__}: {exc}", final=final)
        return get(ctx, campaign_id, merchant_id=campaign.merchant_id)
    with session_scope(ctx.engine) as session:
        finished = lifecycle.finish_planning(session, campaign_id, planner=planner, version=campaign.version,
                                             estimate=estimate)
    if not finished:
        log.info("campaign %s changed or was taken over while it was planned; this plan is dropped", campaign_id)
        return None
    log.info("campaign %s planned: audience %d, holdout %d", campaign_id, estimate["audience_size"],
             estimate["holdout_size"])
    if campaign.automatic_key is not None:
        return approve(ctx, campaign_id, merchant_id=campaign.merchant_id, approved_by="policy",
                       version=campaign.version)
    return get(ctx, campaign_id, merchant_id=campaign.merchant_id)


@contextmanager
def _lease_kept(engine: Engine, campaign: Campaign, *, planner: str, lease_s: float) -> Iterator[None]:
    """Renew the planner's lease every third of it while the body runs (the plan may take minutes); stops
    renewing once the claim is lost (the campaign changed or was cancelled)."""
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lease_s / 3):
            try:
                if not lifecycle.renew_planning(engine, campaign.id, planner=planner, version=campaign.version,
                                                lease_s=lease_s):
                    return
            except Exception:  # a failed renewal only risks a second planner; the plan goes on
                log.warning("campaign %s: planning lease not renewed", campaign.id, exc_info=True)

    thread = threading.Thread(target=renew, name=f"plan-lease:{campaign.id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


# -- the plan -------------------------------------------------------------------------------------------


def preview(ctx: AgentContext, campaign: Campaign) -> dict[str, Any]:
    """What approving would do, at the merchant's clock: sizes, sample drafts with verdicts, cost."""
    ctx, now = ctx.on_merchant_clock(campaign.merchant_id)
    with Session(ctx.engine) as session:
        plan = audiences.plan(ctx, session, campaign, now=now)
    treatment = sorted(plan.arm(lifecycle.TREATMENT), key=lambda m: m.bucket)
    sampled = treatment[:COST_SAMPLE]
    with Session(ctx.engine) as session:
        facts = batch.ChunkFacts.load(ctx, session, [m.guest.customer_id for m in sampled])
    drafts = [sample_draft(ctx, campaign, member, facts) for member in sampled]
    return {
        "planned_at": now.isoformat(),
        "candidates": plan.candidates,
        "audience_size": plan.audience_size,
        "treatment_size": len(treatment),
        "holdout_size": len(plan.arm(lifecycle.HOLDOUT)),
        "global_control_size": len(plan.arm(lifecycle.GLOBAL_CONTROL)),
        "not_eligible": plan.top_reasons(),
        "sample_drafts": drafts[:SAMPLE_DRAFTS],
        "estimated_cost": estimated_cost(ctx, campaign, drafts, treatment_size=len(treatment)),
    }


def sample_draft(ctx: AgentContext, campaign: Campaign, member: Member, facts: batch.ChunkFacts) -> dict[str, Any]:
    """One guest's real draft and verdicts, decided as the run will decide it (agent.campaigns.batch: the
    same draft input, drafter and rules); nothing is written."""
    guest, brief = member.guest, member.eligibility.brief
    assert brief is not None  # eligible members carry their brief
    decision = batch.decide(ctx, merchant_id=campaign.merchant_id, event_id=f"preview:{campaign.id}",
                            guest=guest, brief=brief, facts=facts, notes=reads_staff_notes(ctx.drafter))
    result = decision.result
    offer = result.offer
    out: dict[str, Any] = {
        "customer": guest.facts.pseudonym,
        "why": member.eligibility.reason,
        "make_offer": offer.make_offer,
        "model": result.model,
        "prompt_version": result.prompt_version,
        "offer": offer.model_dump(mode="json", include={
            "offer_type", "sku", "category", "discount_pct", "discount_cents", "bonus_points", "expires_in_days",
            "channel", "sms_text", "email_subject", "strategy", "rationale"}),
        "verdict": None,
        "verdicts": [],
        "offer_value_cents": 0,
        "margin_points_given_up": None,
    }
    report = decision.report
    if report is None:
        return out
    out["verdict"] = report.verdict
    out["verdicts"] = [{"rule": r.rule, "verdict": r.verdict, "reason": r.reason} for r in report.results]
    out["offer_value_cents"] = decision.offer_value_cents
    item = ctx.catalog(campaign.merchant_id).get(offer.sku or "")
    if item is not None and offer.offer_type == "percent_off_item" and offer.discount_pct:
        given_up = margin_after_discount(item, 0) - margin_after_discount(item, offer.discount_pct)
        out["margin_points_given_up"] = round(100 * given_up, 1)
    return out


def estimated_cost(ctx: AgentContext, campaign: Campaign, drafts: list[dict[str, Any]], *,
                   treatment_size: int) -> dict[str, Any]:
    """Offer value and margin given up, extrapolated from the sampled drafts to the treatment arm, at full
    redemption (the worst case; the report measures the real redemption rate)."""
    usable = [d for d in drafts if d["make_offer"] and d["verdict"] != "block"]
    share = len(usable) / len(drafts) if drafts else 0.0
    avg_value = fmean(d["offer_value_cents"] for d in usable) if usable else 0.0
    margins = [d["margin_points_given_up"] for d in usable if d["margin_points_given_up"] is not None]
    return {
        "sampled_drafts": len(drafts),
        "offers_in_sample": len(usable),
        "expected_offers": round(share * treatment_size),
        "avg_offer_value_cents": round(avg_value),
        "max_total_offer_value_cents": round(avg_value * share * treatment_size),
        "avg_margin_points_given_up": round(fmean(margins), 1) if margins else None,
        "basis": "every expected offer redeemed once; value = discount off the menu price (cost unchanged)",
    }


# -- the policy's automatic campaigns ------------------------------------------------------------------


def automatic_key(kind: str, now: datetime) -> str:
    """One automatic campaign per kind and period: next-visit daily (guests come due every day), win-back
    and tier weekly, birthday monthly."""
    if kind == "next_visit":
        return f"{kind}:{now:%Y-%m-%d}"
    if kind == "birthday":
        return f"{kind}:{now:%Y-%m}"
    year, week, _day = now.isocalendar()
    return f"{kind}:{year}-W{week:02d}"


def ensure_automatic(ctx: AgentContext, *, merchant_id: str) -> list[str]:
    """Create, plan and approve (by the policy) this period's campaign of every kind the policy runs on its
    own; returns the ids created. Idempotent: one per kind and period (unique key), whatever the runners. A
    campaign whose planner died is planned, then approved by the policy, by the next `plan_pending`."""
    ctx, now = ctx.on_merchant_clock(merchant_id)
    created = []
    for kind in ctx.policy.campaigns.automatic:
        key = automatic_key(kind, now)
        with Session(ctx.engine) as session:
            if lifecycle.automatic_exists(session, merchant_id=merchant_id, key=key):
                continue
        spec = CampaignSpec(name=f"Automatic {kind.replace('_', '-')} {key.split(':', 1)[1]}", kind=kind,
                            audience=Audience(rule=AudienceRule()))
        try:
            # One split per period, drawn from the period's key: a re-created (or raced) campaign splits alike.
            campaign = create(ctx, merchant_id=merchant_id, spec=spec, created_by="policy", automatic_key=key,
                              salt=f"automatic:{merchant_id}:{key}")
        except IntegrityError:
            continue  # another runner created it first
        plan(ctx, campaign.id)  # approved by the policy once planned
        created.append(campaign.id)
    return created
