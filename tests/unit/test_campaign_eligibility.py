"""Campaign eligibility, trigger by trigger, on hand-made visit histories (fails closed)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from agent.campaigns.eligibility import DOWNGRADE_REVIEW, GuestSnapshot, check, earned_tier, reachable_channels
from agent.campaigns.spec import Audience, AudienceRule, CampaignSpec
from core.schemas import CustomerFacts
from guardrails.campaign_policy import CampaignPolicy
from profiles.features import ProfileFeatures, compute_features
from profiles.visits import Visit, VisitLine

NOW = datetime(2026, 11, 1, 15, 0, tzinfo=UTC)
SALMON = VisitLine("SALMON", "Grilled Salmon", "mains", None, 1, 2400)
SODA = VisitLine("SODA", "Soda", "drinks", None, 1, 300)
POLICY = CampaignPolicy()


def history(*, every: float, n: int, last_days_ago: float, jitter: tuple[float, ...] = (0,)) -> list[Visit]:
    """n visits `every` days apart (plus a repeating jitter), the last one `last_days_ago` before NOW."""
    last = NOW - timedelta(days=last_days_ago)
    times, at = [], last
    for i in range(n):
        times.append(at)
        at -= timedelta(days=every + jitter[i % len(jitter)])
    return [Visit(t, 2700, [SALMON, SODA]) for t in reversed(times)]


def features(visits: list[Visit]) -> ProfileFeatures:
    found = compute_features(visits, now=NOW, customer_id=1)
    assert found is not None
    return found


def guest(f: ProfileFeatures | None, *, sms: bool = True, email: bool = False, opted_out: bool = False,
          tier: str = "member", points: int = 0, birthday: date | None = None,
          offerable: frozenset[str] | None = None) -> GuestSnapshot:
    facts = CustomerFacts(pseudonym="p_1", tier=tier, consent_sms=sms, consent_email=email, opted_out=opted_out,
                          birthday=birthday, spend_12m_cents=f.spend_12m_cents if f else 0)
    reachable = frozenset(c for c, ok in (("sms", sms), ("email", email)) if ok and not opted_out)
    return GuestSnapshot(1, facts, points, f, "loc_1", reachable, offerable)


def run(kind: str, g: GuestSnapshot, rule: AudienceRule | None = None, channel: str = "auto"):  # type: ignore[no-untyped-def]
    return check(campaign_id="cmp_1", kind=kind, channel=channel, rule=rule or AudienceRule(),  # type: ignore[arg-type]
                 guest=g, policy=POLICY, now=NOW)


def test_next_visit_needs_a_reliable_rhythm_due_within_the_window() -> None:
    due_in_two = features(history(every=21, n=8, last_days_ago=19))
    verdict = run("next_visit", guest(due_in_two))
    assert verdict.eligible and verdict.brief is not None
    assert verdict.brief.sku == "SALMON" and verdict.brief.kind == "next_visit"
    assert "every ~21 days" in verdict.reason

    not_yet = features(history(every=21, n=8, last_days_ago=10))
    assert not run("next_visit", guest(not_yet)).eligible
    assert run("next_visit", guest(not_yet), AudienceRule(days_before=14)).eligible  # the rule widens it

    overdue = features(history(every=21, n=8, last_days_ago=25))
    assert "not within" in run("next_visit", guest(overdue)).reason

    erratic = features(history(every=21, n=8, last_days_ago=19, jitter=(-15, 20, -10, 25)))
    assert erratic.interval_cv is not None and erratic.interval_cv > POLICY.next_visit.max_interval_cv
    assert "not reliable" in run("next_visit", guest(erratic)).reason

    too_few = features(history(every=21, n=3, last_days_ago=19))
    assert "no rhythm yet" in run("next_visit", guest(too_few)).reason


def test_next_visit_skips_an_item_the_guest_may_not_be_offered() -> None:
    f = features(history(every=21, n=8, last_days_ago=19))
    assert run("next_visit", guest(f, offerable=frozenset({"SODA"}))).brief.sku == "SODA"  # type: ignore[union-attr]
    assert "can be offered to them" in run("next_visit", guest(f, offerable=frozenset())).reason


def test_no_channel_to_reach_the_guest_means_not_eligible_whatever_the_trigger() -> None:
    f = features(history(every=21, n=8, last_days_ago=19))
    assert run("next_visit", guest(f, sms=False)).reason == "no channel to reach them"
    assert run("next_visit", guest(f, opted_out=True)).reason == "no channel to reach them"
    assert run("next_visit", guest(f, sms=True), channel="email").reason == "no channel to reach them (email)"
    both = guest(f, sms=True, email=True)
    assert reachable_channels(both, "auto") == ["sms", "email"] and reachable_channels(both, "email") == ["email"]
    assert run("next_visit", both).brief.channel is None  # type: ignore[union-attr]
    # One channel left: the drafter is held to it.
    assert run("next_visit", guest(f, email=True, sms=False)).brief.channel == "email"  # type: ignore[union-attr]


def test_win_back_at_the_churn_threshold_for_regulars_only() -> None:
    lapsing = features(history(every=9, n=20, last_days_ago=120))
    assert lapsing.churn_risk >= POLICY.win_back.churn_risk
    assert run("win_back", guest(lapsing)).eligible
    active = features(history(every=9, n=20, last_days_ago=3))
    assert "below" in run("win_back", guest(active)).reason
    assert run("win_back", guest(active), AudienceRule(churn_risk_min=0.0)).eligible
    rare = features(history(every=9, n=3, last_days_ago=300))
    assert "not a regular" in run("win_back", guest(rare)).reason
    assert run("win_back", guest(None)).reason == "no visit yet"


def test_birthday_month_in_the_guests_own_time() -> None:
    f = features(history(every=21, n=8, last_days_ago=19))
    assert run("birthday", guest(f, birthday=date(1990, 11, 20))).eligible
    assert not run("birthday", guest(f, birthday=date(1990, 12, 2))).eligible
    assert run("birthday", guest(f)).reason == "birthday unknown"


def test_tier_triggers() -> None:
    f = features(history(every=9, n=20, last_days_ago=3))  # $27 x visits in the last year
    near = run("tier", guest(f, points=420))  # 80 from silver at 500
    assert near.eligible and near.brief is not None and near.brief.trigger == "milestone"
    assert "not close" in run("tier", guest(f, points=100)).reason

    assert earned_tier(f.spend_12m_cents) == "silver"
    down = run("tier", guest(f, tier="gold"), AudienceRule(trigger="downgrade"))
    assert down.eligible and down.brief is not None and down.brief.review_required == DOWNGRADE_REVIEW
    assert not run("tier", guest(f, tier="silver"), AudienceRule(trigger="downgrade")).eligible

    idle = features(history(every=9, n=20, last_days_ago=350))
    expiring = run("tier", guest(idle, points=300), AudienceRule(trigger="points_expiring"))
    assert expiring.eligible and "lapse in 15 days" in expiring.reason
    assert not run("tier", guest(f, points=300), AudienceRule(trigger="points_expiring")).eligible


def test_rule_filters_narrow_the_audience() -> None:
    f = features(history(every=9, n=20, last_days_ago=120))
    assert "tier member not in" in run("win_back", guest(f), AudienceRule(tiers=["gold"])).reason
    assert "home location" in run("win_back", guest(f), AudienceRule(location_ids=["loc_2"])).reason
    assert run("win_back", guest(f), AudienceRule(lifecycle=["lapsed"])).eligible
    assert "fewer than 30 visits" in run("win_back", guest(f), AudienceRule(min_visits_12m=30)).reason


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"audience": {"query": "salmon", "rule": {}}}, "exactly one of"),
        ({"audience": {}}, "exactly one of"),
        ({"audience": {"rule": {"churn_risk_min": 0.5}}}, "does not apply to a next_visit"),
        ({"audience": {"rule": {"tierz": ["gold"]}}}, "Extra inputs"),
        ({"audience": {"rule": {}}, "holdout_pct": 80}, "less than or equal to 50"),
    ],
)
def test_a_bad_campaign_is_refused_with_a_reason(body: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CampaignSpec.model_validate({"name": "n", "kind": "next_visit", **body})
    assert Audience(rule=AudienceRule()).filters == AudienceRule()
