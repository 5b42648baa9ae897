"""Points to the next tier have one home (core.tiers): a tier is earned by lifetime points earned, not by the
balance, and counted from the tier the guest holds. The drafter's features, the tier campaign's milestone
trigger and the associate's facts all ask `points_to_next_tier`; before, the first two counted the balance
from the bottom of the ladder (a Gold guest who had redeemed points was "200 points from Silver")."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime, timedelta

import pytest

from agent.ask.fact_builders import profile_facts
from agent.campaigns.eligibility import GuestSnapshot, check
from agent.campaigns.spec import AudienceRule
from agent.retrieval import draft_features
from core.schemas import CustomerFacts
from core.tiers import TIER_THRESHOLDS, TIERS, TierGap, points_to_next_tier, tier_for_points, tier_points, tiers_above
from db.tables import Customer
from guardrails.campaign_policy import CampaignPolicy
from profiles.features import ProfileFeatures, compute_features
from profiles.visits import Visit, VisitLine
from tests.unit.test_layering import REPO, product_files

NOW = datetime(2026, 11, 1, 15, 0, tzinfo=UTC)


def test_thresholds_and_the_tier_points_earn() -> None:
    assert TIERS == ("member", "silver", "gold", "vip")
    assert [tier_for_points(p) for p in (0, 499, 500, 1199, 1200, 2999, 3000)] == [
        "member", "member", "silver", "silver", "gold", "gold", "vip"]


def test_next_tier_counts_lifetime_points_from_the_tier_held() -> None:
    assert points_to_next_tier("member", 420) == TierGap("silver", 500, 80)
    assert points_to_next_tier("gold", 1500) == TierGap("vip", 3000, 1500)
    assert points_to_next_tier("vip", 99_999) is None
    # Held below what the points earn (the POS has not promoted yet): the next tier needs nothing more.
    assert points_to_next_tier("member", 700) == TierGap("silver", 500, 0)
    assert tiers_above("silver", 700) == [TierGap("gold", 1200, 500), TierGap("vip", 3000, 2300)]
    assert tiers_above("unknown", 0)[0].tier == "silver"  # an unknown tier counts as the lowest
    assert tier_points(1500, 300) == 1500 and tier_points(None, 300) == 300  # no ledger: the balance


def _features() -> ProfileFeatures:
    line = VisitLine("SALMON", "Grilled Salmon", "mains", None, 1, 2400)
    visits = [Visit(NOW - timedelta(days=9 * i + 3), 2700, [line]) for i in reversed(range(20))]
    found = compute_features(visits, now=NOW, customer_id=1)
    assert found is not None
    return found


# (tier held, balance, lifetime points earned or None for no ledger)
GUESTS = [
    ("gold", 300, 1500),  # redeemed most of their points: still Gold, 1,500 from VIP
    ("silver", 50, 1100),  # 100 from Gold by points earned; the balance would say 450 from Silver
    ("member", 420, 420),
    ("member", 420, None),
    ("vip", 10, 4000),
    ("member", 100, 700),
]


def _three_callers(tier: str, balance: int, lifetime: int | None) -> tuple[object, object, object]:
    """(drafter features, milestone trigger, associate facts): each one's next tier and points to go."""
    customer = Customer(id=1, merchant_id="m", pos_customer_id="c1", pseudonym="p_1", tier=tier, points=balance)
    f = _features()
    drafted = draft_features(f, customer, {}, NOW, lifetime_points=lifetime)
    drafter = (drafted.next_tier, drafted.points_to_next_tier) if drafted.next_tier else None

    facts = CustomerFacts(pseudonym="p_1", tier=tier, consent_sms=True, spend_12m_cents=f.spend_12m_cents)
    snapshot = GuestSnapshot(1, facts, balance, f, "loc_1", frozenset({"sms"}), None, lifetime)
    policy = CampaignPolicy.model_validate({"tier": {"milestone_max_gap_points": 10_000}})  # every gap is close
    verdict = check(campaign_id="c", kind="tier", channel="auto", rule=AudienceRule(), guest=snapshot,
                    policy=policy, now=NOW)
    words = verdict.reason.split(" points from ")
    campaign = (words[1], int(words[0])) if verdict.eligible else verdict.reason

    ladder = [fact.value for fact in profile_facts(customer, today=date(2026, 11, 1), lifetime_points=lifetime)
              if fact.field == "points_to_tier"]
    associate = (ladder[0]["tier"], ladder[0]["to_go"]) if ladder else None
    return drafter, campaign, associate


@pytest.mark.parametrize(("tier", "balance", "lifetime"), GUESTS)
def test_drafter_campaign_and_associate_agree(tier: str, balance: int, lifetime: int | None) -> None:
    drafter, campaign, associate = _three_callers(tier, balance, lifetime)
    gap = points_to_next_tier(tier, tier_points(lifetime, balance))
    expected = (gap.tier, gap.to_go) if gap else None
    assert drafter == expected
    assert associate == expected
    if gap is None:
        assert campaign == "already at the top tier"
    elif gap.to_go == 0:
        assert campaign == f"has the points for {gap.tier} already"
    else:
        assert campaign == expected


def test_a_gold_guest_who_redeemed_is_not_near_silver() -> None:
    drafter, campaign, associate = _three_callers("gold", 300, 1500)
    assert drafter == campaign == associate == ("vip", 1500)


def test_tier_thresholds_live_in_core_tiers_only() -> None:
    """No product module other than core.tiers walks the thresholds or writes them again (the sandbox's
    copy in cents had already drifted from retrieval's)."""
    found = []
    for module, path in product_files(REPO).items():
        tree = ast.parse(path.read_text())
        ints = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and type(n.value) is int}
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        copied = any({t * scale for _, t in TIER_THRESHOLDS[1:]} <= ints for scale in (1, 100))
        if module != "core.tiers" and (copied or "TIER_THRESHOLDS" in names):
            found.append(module)
    assert found == []
