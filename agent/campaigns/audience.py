"""A campaign's audience: candidates (a rule over the whole base, or a segment query's matches), their profile
features as of the campaign's clock, eligibility, then the split (global control, holdout, treatment).

Loading is batched (one query for the customers, one per 500 guests for their visits, the merchant's fitted
model once), so planning 10,000 guests costs seconds, not a query per guest.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from agent.campaigns import holdout
from agent.campaigns.eligibility import Eligibility, GuestSnapshot, check
from agent.campaigns.spec import Audience, AudienceRule
from agent.context import AgentContext
from agent.facts import alcohol_eligible, eligible_catalog, local_date
from agent.retrieval import facts_with_value
from core.gc_tuning import paused_gc
from db import campaigns as lifecycle
from db.loyalty import lifetime_points_earned
from db.tables import Campaign, Customer, CustomerContact, Location, PosTransaction
from guardrails.campaign_policy import CampaignPolicy
from guardrails.local_time import customer_zone
from profiles.features import ProfileFeatures, compute_features_batch
from profiles.fit import load_all_visits, load_visits_for
from tools.marketing.outbox import consent_refusal

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


class AudienceUnavailable(RuntimeError):
    """The audience cannot be resolved here (a segment query without a vector store)."""


@dataclass(frozen=True)
class Member:
    guest: GuestSnapshot
    bucket: int
    arm: str
    eligibility: Eligibility


@dataclass
class AudiencePlan:
    candidates: int
    members: list[Member] = field(default_factory=list)
    not_eligible: Counter[str] = field(default_factory=Counter)

    def arm(self, name: str) -> list[Member]:
        return [m for m in self.members if m.arm == name]

    @property
    def audience_size(self) -> int:
        """Eligible guests in the experiment (treatment + holdout; the global control group is apart)."""
        return sum(1 for m in self.members if m.arm != lifecycle.GLOBAL_CONTROL)

    def top_reasons(self, n: int = 5) -> dict[str, int]:
        return dict(self.not_eligible.most_common(n))


def resolve_query(ctx: AgentContext, *, merchant_id: str, query: str, limit: int) -> list[int]:
    """Customer ids a segment query matches (hybrid search over pseudonymized profiles), best first."""
    if ctx.vector_store is None or ctx.embedder is None:
        raise AudienceUnavailable("segment queries need the vector store; use a rule audience or the API process")
    vector = ctx.embedder.embed([query])[0]
    hits = ctx.vector_store.search_profiles(vector, merchant_id=merchant_id, limit=limit, text=query)
    return [hit.customer_id for hit in hits]


def load_guests(
    ctx: AgentContext, session: Session, *, merchant_id: str, customer_ids: Sequence[int] | None, now: datetime,
    known: KnownFeatures | None = None,
) -> list[GuestSnapshot]:
    """Guests (all of the merchant's, or these) as they are now, with their features as of `now`. With
    `known`, a guest's features computed earlier are reused unless a sale of theirs was recorded since."""
    stmt = select(Customer).where(col(Customer.merchant_id) == merchant_id)
    if customer_ids is not None:
        stmt = stmt.where(col(Customer.id).in_(list(customer_ids)))
    customers = session.exec(stmt.order_by(col(Customer.id))).all()
    ids = [c.id for c in customers if c.id is not None]
    features: dict[int, ProfileFeatures | None] = {}
    if known is not None:
        changed = known.changed_since(session, ids)
        features = {i: known.features.get(i) for i in ids if i in known.features and i not in changed}
    missing = [i for i in ids if i not in features]
    if missing:
        visits = (load_all_visits(session, merchant_id=merchant_id) if customer_ids is None and not features
                  else load_visits_for(session, customer_ids=missing))
        features.update(compute_features_batch(visits, model=ctx.merchant_model(merchant_id), now=now))
    locations = {loc.id: loc for loc in session.exec(select(Location).where(col(Location.merchant_id) == merchant_id))}
    contacts = {c.customer_id: c for c in session.exec(
        select(CustomerContact).where(col(CustomerContact.customer_id).in_([c.id for c in customers])))}
    lifetime = lifetime_points_earned(session, ids)
    catalog = ctx.catalog(merchant_id)
    guests = []
    offerable_by: dict[tuple[object, ...], frozenset[str]] = {}  # guests alike in allergies and alcohol share it
    for customer in customers:
        assert customer.id is not None
        found = features.get(customer.id)
        facts = facts_with_value(customer, locations.get(customer.home_location_id or ""), found)
        zone_name, _own = customer_zone(facts.timezone, ctx.policy.quiet_hours.default_timezone)
        today = local_date(now, zone_name)
        key = (tuple(sorted(facts.allergies)) if facts.allergies is not None else None,
               alcohol_eligible(facts, ctx.policy, today))
        if key not in offerable_by:
            offerable_by[key] = frozenset(
                item.sku for item in eligible_catalog(catalog, facts=facts, policy=ctx.policy, today=today))
        reachable = frozenset(channel for channel in ("sms", "email")
                              if consent_refusal(customer, contacts.get(customer.id), channel) is None)
        guests.append(GuestSnapshot(customer.id, facts, customer.points, found, customer.home_location_id,
                                    reachable, offerable_by[key], lifetime.get(customer.id)))
    return guests


@dataclass(frozen=True)
class KnownFeatures:
    """Features computed when a campaign was planned, and the real time they were read at."""

    features: dict[int, ProfileFeatures | None]
    read_at: datetime

    def changed_since(self, session: Session, customer_ids: Sequence[int]) -> set[int]:
        """These guests with a sale recorded after the features were read (theirs are stale)."""
        return {c for c in session.exec(
            select(PosTransaction.customer_id).where(col(PosTransaction.customer_id).in_(list(customer_ids)),
                                                     col(PosTransaction.created_at) >= self.read_at)
        ).all() if c is not None}


def candidate_ids(ctx: AgentContext, campaign: Campaign) -> list[int] | None:
    """The campaign's candidates: None (the whole base) for rule audiences, the query's stored matches else."""
    audience = Audience.model_validate(campaign.audience)
    if audience.query is None:
        return None
    if campaign.audience_snapshot is None:
        raise AudienceUnavailable(f"campaign {campaign.id} has a query audience but no stored matches")
    return list(campaign.audience_snapshot)


def prefiltered(session: Session, campaign: Campaign, *, rule: AudienceRule, policy: CampaignPolicy,
                now: datetime) -> tuple[list[int], int]:
    """(candidates worth loading, the merchant's guests considered): conditions eligibility would also refuse
    (opted out, no consent on the campaign's channel, fewer sales than the trigger needs visits, the rule's
    tiers and locations), checked in the database so planning loads the visits of plausible guests only."""
    base = (col(Customer.merchant_id) == campaign.merchant_id,)
    total = session.exec(select(func.count()).select_from(Customer).where(*base)).one()
    consent = {"sms": col(Customer.consent_sms), "email": col(Customer.consent_email)}
    stmt = select(Customer.id).where(*base, col(Customer.opted_out_at).is_(None),
                                     consent[campaign.channel] if campaign.channel in consent
                                     else or_(*consent.values()))
    if rule.tiers is not None:
        stmt = stmt.where(col(Customer.tier).in_(rule.tiers))
    if rule.location_ids is not None:
        stmt = stmt.where(col(Customer.home_location_id).in_(rule.location_ids))

    def with_sales(at_least: int, *, since: datetime | None = None) -> Any:
        sales = select(PosTransaction.customer_id).where(col(PosTransaction.merchant_id) == campaign.merchant_id,
                                                         col(PosTransaction.occurred_at) <= now)
        if since is not None:
            sales = sales.where(col(PosTransaction.occurred_at) > since)
        return col(Customer.id).in_(sales.group_by(col(PosTransaction.customer_id))
                                    .having(func.count() >= at_least))

    year_ago = now - timedelta(days=365)
    if campaign.kind == "next_visit":  # a visit is a day with sales: fewer sales, fewer visits
        stmt = stmt.where(with_sales(policy.next_visit.min_visits))
    elif campaign.kind == "win_back":
        stmt = stmt.where(with_sales(policy.win_back.min_visits_12m, since=year_ago))
    elif campaign.kind == "birthday":
        stmt = stmt.where(col(Customer.birthday).is_not(None))
    elif rule.trigger == "downgrade":
        stmt = stmt.where(col(Customer.tier) != "member")
    elif rule.trigger == "points_expiring":
        stmt = stmt.where(col(Customer.points) >= policy.tier.min_expiring_points)
    if rule.min_visits_12m:
        stmt = stmt.where(with_sales(rule.min_visits_12m, since=year_ago))
    return [i for i in session.exec(stmt.order_by(col(Customer.id))).all() if i is not None], int(total)


def plan(ctx: AgentContext, session: Session, campaign: Campaign, *, now: datetime) -> AudiencePlan:
    """Eligibility for every candidate, then the split: the policy's global control group first, then the
    campaign's holdout, both from deterministic buckets."""
    with paused_gc():
        return _plan(ctx, session, campaign, now=now)


def _plan(ctx: AgentContext, session: Session, campaign: Campaign, *, now: datetime) -> AudiencePlan:
    audience = Audience.model_validate(campaign.audience)
    policy = ctx.policy.campaigns
    ids, total = prefiltered(session, campaign, rule=audience.filters, policy=policy, now=now)
    snapshot = candidate_ids(ctx, campaign)
    if snapshot is not None:
        total = len(snapshot)
        ids = sorted(set(ids) & set(snapshot))
    guests = load_guests(ctx, session, merchant_id=campaign.merchant_id, customer_ids=ids, now=now)
    global_salt = holdout.global_control_salt(campaign.merchant_id)
    result = AudiencePlan(candidates=total)
    if total > len(guests):
        result.not_eligible["opted out, no consent, or too few visits (database pre-filter)"] = total - len(guests)
    for guest in guests:
        verdict = check(campaign_id=campaign.id, kind=campaign.kind, channel=campaign.channel,  # type: ignore[arg-type]
                        rule=audience.filters, guest=guest, policy=policy, now=now)
        if not verdict.eligible:
            result.not_eligible[_NUMBER.sub("N", verdict.reason)[:80]] += 1  # "churn risk N below N"
            continue
        pseudonym = guest.facts.pseudonym
        bucket = holdout.bucket(pseudonym, campaign.salt)
        if policy.global_control_pct and holdout.in_share(holdout.bucket(pseudonym, global_salt),
                                                          policy.global_control_pct):
            arm = lifecycle.GLOBAL_CONTROL
        elif holdout.in_share(bucket, campaign.holdout_pct):
            arm = lifecycle.HOLDOUT
        else:
            arm = lifecycle.TREATMENT
        result.members.append(Member(guest, bucket, arm, verdict))
    return result
