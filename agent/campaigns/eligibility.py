"""Who a campaign may contact: one pure function of a frozen snapshot of the guest, the campaign's filters
and the merchant's campaign policy. It runs twice for every guest: before the holdout split (so both arms
are drawn from the same eligible audience) and again right before a treatment guest's decision (a guest who
came in meanwhile, opted out or lost consent drops out). Fails closed: a guest without the facts a trigger
needs is not eligible.

Triggers:
- next_visit: a reliable rhythm (enough visits, low interval variance), the next visit expected within
  `days_before` days; the item is the one the guest orders on that rhythm.
- win_back: churn risk at the threshold, a regular (visits in the last year).
- birthday: the guest's birthday month, in their own time zone.
- tier: `milestone` (close to the next tier), `points_expiring` (points about to lapse without a visit),
  `downgrade` (the tier held is above what the last year's spend earns; every such notice goes to review).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from agent.campaigns.brief import CampaignBrief
from agent.campaigns.spec import AudienceRule
from core.schemas import CustomerFacts
from core.tiers import TIERS, points_to_next_tier, tier_for_points, tier_points
from guardrails.campaign_policy import CampaignKind, CampaignPolicy
from guardrails.local_time import customer_zone, zone
from profiles.features import ProfileFeatures

DOWNGRADE_REVIEW = "a tier downgrade notice always goes to a person"


@dataclass(frozen=True)
class GuestSnapshot:
    """A guest as a campaign sees them: pseudonymous facts, loyalty balance, profile features (None: no
    visit yet), home location, the channels a message can reach them on (consent and an address on file: the
    sender's own test, tools.marketing.outbox.consent_refusal), and the items they may be offered at all
    (allergens, alcohol: the drafter's own pre-filter, agent.facts.eligible_catalog; None = not computed)."""

    customer_id: int
    facts: CustomerFacts
    points: int
    features: ProfileFeatures | None
    home_location_id: str | None
    reachable: frozenset[str] = frozenset()
    offerable: frozenset[str] | None = None
    lifetime_points: int | None = None  # the ledger's credits (None: no ledger); tiers count these


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    reason: str
    brief: CampaignBrief | None = None


def _no(reason: str) -> Eligibility:
    return Eligibility(False, reason)


def reachable_channels(guest: GuestSnapshot, channel: str) -> list[str]:
    """Channels a message reaches this guest on, limited to the campaign's channel (`auto`: any), SMS first."""
    return [c for c in ("sms", "email") if c in guest.reachable and channel in ("auto", c)]


def earned_tier(spend_12m_cents: int) -> str:
    """The tier the last year's spend earns (one point per dollar, the POS's thresholds)."""
    return tier_for_points(spend_12m_cents // 100)


def check(
    *,
    campaign_id: str,
    kind: CampaignKind,
    channel: str,
    rule: AudienceRule,
    guest: GuestSnapshot,
    policy: CampaignPolicy,
    now: datetime,
) -> Eligibility:
    """Whether `guest` belongs to the campaign's audience now, and the brief of their decision if so."""
    channels = reachable_channels(guest, channel)
    if not channels:
        return _no("no channel to reach them" + ("" if channel == "auto" else f" ({channel})"))
    filtered = _filters(rule, guest)
    if filtered is not None:
        return _no(filtered)
    decide = _TRIGGERS[kind]
    found = decide(rule, guest, policy, now)
    if isinstance(found, str):
        return _no(found)
    reason, extra = found
    brief = CampaignBrief.model_validate({
        "campaign_id": campaign_id,
        "kind": kind,
        # The drafter may only use channels that reach the guest (one left: that one).
        "channel": channels[0] if len(channels) == 1 else None,
        "reason": reason[:500],
        **extra,
    })
    return Eligibility(True, reason, brief)


def _filters(rule: AudienceRule, guest: GuestSnapshot) -> str | None:
    f = guest.features
    if rule.tiers is not None and guest.facts.tier not in rule.tiers:
        return f"tier {guest.facts.tier} not in {rule.tiers}"
    if rule.location_ids is not None and guest.home_location_id not in rule.location_ids:
        return "home location not in the audience"
    if rule.lifecycle is not None and (f is None or f.lifecycle not in rule.lifecycle):
        return f"lifecycle {f.lifecycle if f else 'unknown'} not in {rule.lifecycle}"
    if rule.min_visits_12m is not None and (f.visits_12m if f else 0) < rule.min_visits_12m:
        return f"fewer than {rule.min_visits_12m} visits in 12 months"
    return None


Found = tuple[str, dict[str, object]] | str  # (reason, brief fields) or why not


def _days(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 86400


def _next_visit(rule: AudienceRule, guest: GuestSnapshot, policy: CampaignPolicy, now: datetime) -> Found:
    p, f = policy.next_visit, guest.features
    if f is None or f.visits_total < p.min_visits:
        return f"fewer than {p.min_visits} visits: no rhythm yet"
    if f.interval_cv is None or f.median_interval_days is None or f.next_visit_due_at is None:
        return "no visit rhythm"
    if f.interval_cv > p.max_interval_cv:
        return f"rhythm not reliable (interval CV {f.interval_cv:.2f} > {p.max_interval_cv:.2f})"
    days_before = rule.days_before or p.days_before
    due_in = _days(f.next_visit_due_at, now)
    if not 0 < due_in <= days_before:
        return f"next visit expected in {due_in:.1f} days, not within the next {days_before}"
    # The item of their rhythm first, else their most ordered favourite, among items they may be offered.
    rhythm = f.favourite_item_rhythm
    candidates = ([(rhythm.sku, rhythm.name)] if rhythm is not None else []) + [
        (fav.sku, fav.name) for fav in f.favourite_items if fav.visits >= 2
    ]
    offerable = [c for c in candidates if guest.offerable is None or c[0] in guest.offerable]
    if not offerable:
        return "no item of their rhythm can be offered to them" if candidates else "no item to build the message on"
    item = offerable[0]
    reason = (
        f"visits every ~{f.median_interval_days:g} days ({f.visits_total} visits, interval CV {f.interval_cv:.2f});"
        f" next visit expected in {due_in:.1f} days; orders {item[1]}"
    )
    return reason, {"sku": item[0]}


def _win_back(rule: AudienceRule, guest: GuestSnapshot, policy: CampaignPolicy, now: datetime) -> Found:
    p, f = policy.win_back, guest.features
    threshold = rule.churn_risk_min if rule.churn_risk_min is not None else p.churn_risk
    if f is None:
        return "no visit yet"
    if f.churn_risk < threshold:
        return f"churn risk {f.churn_risk:.2f} below {threshold:.2f}"
    if f.visits_12m < p.min_visits_12m:
        return f"{f.visits_12m} visits in 12 months: not a regular"
    return f"lapsing regular: churn risk {f.churn_risk:.2f}, {f.visits_12m} visits in 12 months", {}


def _birthday(rule: AudienceRule, guest: GuestSnapshot, policy: CampaignPolicy, now: datetime) -> Found:
    birthday = guest.facts.birthday
    if birthday is None:
        return "birthday unknown"
    zone_name, _own = customer_zone(guest.facts.timezone, "UTC")
    local = now.astimezone(zone(zone_name) or UTC)
    if birthday.month != local.month:
        return "not their birthday month"
    return f"birthday month ({birthday.strftime('%B')})", {}


def _tier(rule: AudienceRule, guest: GuestSnapshot, policy: CampaignPolicy, now: datetime) -> Found:
    p, f = policy.tier, guest.features
    trigger = rule.trigger or "milestone"
    tier = guest.facts.tier
    if trigger == "milestone":
        nxt = points_to_next_tier(tier, tier_points(guest.lifetime_points, guest.points))
        if nxt is None:
            return "already at the top tier"
        if nxt.to_go == 0:
            return f"has the points for {nxt.tier} already"
        if nxt.to_go > p.milestone_max_gap_points:
            return f"{nxt.to_go} points from {nxt.tier}: not close"
        return f"{nxt.to_go} points from {nxt.tier}", {"trigger": "milestone"}
    if f is None:
        return "no visit yet"
    if trigger == "points_expiring":
        idle = f.days_since_last_visit
        lapse_in = p.points_expire_after_days - idle
        if guest.points < p.min_expiring_points:
            return f"{guest.points} points: below {p.min_expiring_points}"
        if not 0 < lapse_in <= p.points_notice_days:
            return f"points lapse in {lapse_in:.0f} days, not within {p.points_notice_days}"
        return f"{guest.points} points lapse in {lapse_in:.0f} days without a visit", {"trigger": "points_expiring"}
    earned = earned_tier(f.spend_12m_cents)
    if TIERS.index(tier) <= TIERS.index(earned):
        return f"tier {tier} is earned by the last year's spend"
    return (
        f"holds {tier}, the last year's spend earns {earned}: downgrade notice",
        {"trigger": "downgrade", "review_required": DOWNGRADE_REVIEW},
    )


_TRIGGERS = {"next_visit": _next_visit, "win_back": _win_back, "birthday": _birthday, "tier": _tier}
