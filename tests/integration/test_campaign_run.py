"""Running campaigns through the real offer components: each treatment guest decided once (whatever the
crashes and re-runs), the holdout untouched, eligibility and fatigue re-checked at send, quiet hours
deferring the message, downgrade notices waiting for a person."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from agent.campaigns import service
from agent.campaigns.run import CampaignRunner
from db import campaigns as lifecycle
from db import offers
from db.engine import session_scope
from db.tables import Campaign, CampaignRecipient, Customer, Offer, OutboundMessage
from tests.integration.campaign_world import CLOCK, MERCHANT, World, make_world


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> World:
    return make_world(database_url, tmp_path)


def _settled_once(world: World, campaign: Campaign) -> tuple[list[CampaignRecipient], list[Offer]]:
    recipients = world.recipients(campaign.id)
    offer_rows = world.offers(campaign.id)
    assert len({r.customer_id for r in recipients}) == len(recipients)
    treatment = {r.customer_id for r in recipients if r.arm == lifecycle.TREATMENT}
    holdout = {r.customer_id for r in recipients if r.arm == lifecycle.HOLDOUT}
    assert treatment and holdout and not treatment & holdout
    # One offer per treatment guest at most; none for the holdout.
    assert set(Counter(o.customer_id for o in offer_rows).values()) <= {1}
    assert {o.customer_id for o in offer_rows} <= treatment
    ids = [o.id for o in offer_rows]
    assert set(Counter(m.offer_id for m in world.messages(ids)).values()) <= {1}
    sent = [o for o in offer_rows if o.status == offers.SENT]
    assert len(world.messages([o.id for o in sent])) == len(sent)
    assert len(world.promo_codes(ids)) == sum(1 for o in sent if o.offer_type != "bonus_points")
    assert all(r.status in lifecycle.SETTLED for r in recipients)
    return recipients, offer_rows


def test_run_due_decides_each_guest_once_and_leaves_the_holdout_alone(world: World) -> None:
    campaign = world.approve(world.create("next_visit", {"days_before": 7}))
    summary = world.run_due()
    assert summary.campaigns == [campaign.id]
    recipients, offer_rows = _settled_once(world, campaign)
    assert world.run_due().campaigns == []  # completed: nothing is due any more
    assert _settled_once(world, campaign)[1] == offer_rows
    assert service.get(world.agent.ctx, campaign.id, merchant_id=MERCHANT).status == lifecycle.COMPLETED
    holdout = [r for r in recipients if r.arm == lifecycle.HOLDOUT]
    assert all(r.status == lifecycle.R_HOLDOUT and r.planned_at == CLOCK for r in holdout)  # would have sent
    assert {o.trigger for o in offer_rows} == {"campaign"} and all(o.status != "drafted" for o in offer_rows)
    sent = [o for o in offer_rows if o.status == offers.SENT]
    assert sent and all(o.event_id and o.event_id.startswith(campaign.id) for o in sent)
    with Session(world.engine) as s:
        counts = lifecycle.campaign_counts(s, campaign.id)
    assert counts["treatment"] + counts["holdout"] == counts["audience"] == len(recipients)
    assert counts["scheduled"] + counts["sent"] == len(sent)
    assert counts["drafted"] + counts["no_offer"] + counts["skipped_fatigue"] + counts["ineligible_at_send"] == (
        counts["treatment"])


def test_a_crash_mid_run_resumes_without_repeating_a_side_effect(world: World) -> None:
    campaign = world.approve(world.create("next_visit", {"days_before": 7}))

    class Crash(RuntimeError):
        pass

    class CrashingRunner(CampaignRunner):
        calls = 0

        def _continue(self, ctx: Any, recipient: CampaignRecipient, state: dict[str, Any] | None) -> str:
            CrashingRunner.calls += 1
            if CrashingRunner.calls == 3:
                raise Crash("process killed")
            return super()._continue(ctx, recipient, state)

    world.run_due(CrashingRunner(world.agent, batch_size=50, lease_s=60))
    with Session(world.engine) as s:
        stuck = s.exec(select(CampaignRecipient).where(col(CampaignRecipient.status) == lifecycle.R_RUNNING)).all()
        assert stuck  # the crashed chunk's guests: drafts written, threads not all run
        assert s.get(Campaign, campaign.id).status == lifecycle.RUNNING  # type: ignore[union-attr]
    with session_scope(world.engine) as s:  # their lease runs out
        s.execute(update(CampaignRecipient).values(locked_until=datetime.now(UTC) - timedelta(seconds=1))
                  .where(col(CampaignRecipient.status) == lifecycle.R_RUNNING))
    assert world.run_due(CampaignRunner(world.agent)).campaigns == [campaign.id]
    _settled_once(world, campaign)
    assert service.get(world.agent.ctx, campaign.id, merchant_id=MERCHANT).status == lifecycle.COMPLETED


def test_eligibility_and_fatigue_are_checked_again_at_send(world: World) -> None:
    campaign = world.approve(world.create("win_back", holdout_pct=10))
    touched: dict[str, int] = {}

    class Meddler(CampaignRunner):
        def _decide_chunk(self, ctx: Any, c: Campaign, chunk: list[CampaignRecipient], known: Any = None) -> list[str]:
            # Between the split and the decision: one guest opts out, another got a real-time offer yesterday.
            opted, fatigued = chunk[0].customer_id, chunk[1].customer_id
            touched.update(opted=opted, fatigued=fatigued)
            with session_scope(world.engine) as s:
                s.execute(update(Customer).where(col(Customer.id) == opted).values(opted_out_at=CLOCK))
                s.add(Offer(id="off_realtime", merchant_id=MERCHANT, customer_id=fatigued, event_id="evt_rt",
                            trigger="transaction", status=offers.SENT, offer_type="percent_off_item", channel="sms",
                            scheduled_for=CLOCK - timedelta(hours=20), created_at=CLOCK - timedelta(hours=20)))
            return super()._decide_chunk(ctx, c, chunk, known)

    world.run_due(Meddler(world.agent, batch_size=500))
    by_customer = {r.customer_id: r for r in world.recipients(campaign.id)}
    assert by_customer[touched["opted"]].status == lifecycle.R_INELIGIBLE
    assert "at send time: no channel to reach them" in (by_customer[touched["opted"]].reason or "")
    assert by_customer[touched["fatigued"]].status == lifecycle.R_SKIPPED_FATIGUE
    assert "another message 20.0 h from this one" in (by_customer[touched["fatigued"]].reason or "")
    assert {o.customer_id for o in world.offers(campaign.id)}.isdisjoint(touched.values())


def test_quiet_hours_defer_the_message_to_the_morning(database_url: str, tmp_path: Path) -> None:
    night = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)  # 03:00 in New York, 21:00 in Honolulu: quiet everywhere
    world = make_world(database_url, tmp_path, clock=night)
    campaign = world.approve(world.create("next_visit", {"days_before": 7}))
    world.run_due()
    sent = [o for o in world.offers(campaign.id) if o.status == offers.SENT]
    assert sent
    with Session(world.engine) as s:
        zones = {c.id: c.timezone for c in s.exec(select(Customer))}
    for message in world.messages([o.id for o in sent]):
        local = message.scheduled_for.astimezone(ZoneInfo(zones[message.customer_id]))
        assert (local.hour, local.minute) == (9, 0) and night < message.scheduled_for < night + timedelta(hours=24)


def test_a_downgrade_notice_always_waits_for_a_person(world: World) -> None:
    with session_scope(world.engine) as s:  # guests holding gold that the last year's spend no longer earns
        members = s.exec(select(Customer.id).where(col(Customer.tier) == "member", col(Customer.consent_sms),
                                                   col(Customer.opted_out_at).is_(None)).limit(30)).all()
        s.execute(update(Customer).where(col(Customer.id).in_(members)).values(tier="gold"))
    campaign = world.approve(world.create("tier", {"trigger": "downgrade"}, holdout_pct=10))
    world.run_due()
    drafted = world.offers(campaign.id)
    assert drafted and all(o.status in (offers.PENDING_REVIEW, offers.BLOCKED) for o in drafted)
    waiting = [o for o in drafted if o.status == offers.PENDING_REVIEW]
    assert waiting and not world.messages([o.id for o in drafted])
    outcome = world.agent.review(waiting[0].id, {"action": "accept", "reviewer": "1", "role": "manager"})
    assert outcome == "sent"
    with Session(world.engine) as s:
        assert s.get(Offer, waiting[0].id).status == offers.SENT  # type: ignore[union-attr]
        assert len(s.exec(select(OutboundMessage).where(col(OutboundMessage.offer_id) == waiting[0].id)).all()) == 1


def test_the_policy_starts_its_automatic_campaigns_once_per_period(database_url: str, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("campaigns: {automatic: [win_back], default_holdout_pct: 20}\n", encoding="utf-8")
    world = make_world(database_url, tmp_path, policy_file=policy)
    first = world.run_due()
    assert world.run_due().campaigns == [] and len(first.campaigns) == 1  # same ISO week: not a second one
    campaign = service.get(world.agent.ctx, first.campaigns[0], merchant_id=MERCHANT)
    assert campaign.automatic_key == "win_back:2026-W44" and campaign.approved_by == "policy"
    assert campaign.status == lifecycle.COMPLETED and campaign.holdout_pct == 20
    _settled_once(world, campaign)


def test_cli_run_due_runs_an_approved_campaign(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    campaign = world.approve(world.create("win_back"))
    result = world.cli(monkeypatch, "campaigns", "run-due")
    assert result.exit_code == 0, result.output
    assert campaign.id in result.output and '"outcomes"' in result.output
    _settled_once(world, campaign)


def test_the_standing_global_control_group_is_never_contacted(database_url: str, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("campaigns: {global_control_pct: 25}\n", encoding="utf-8")
    world = make_world(database_url, tmp_path, policy_file=policy)
    first = world.approve(world.create("next_visit", {"days_before": 7}, holdout_pct=10))
    second = world.approve(world.create("next_visit", {"days_before": 7}, holdout_pct=30))  # same guests
    world.run_due()
    control = {}
    for campaign in (first, second):
        recipients = world.recipients(campaign.id)
        control[campaign.id] = {r.customer_id for r in recipients if r.arm == lifecycle.GLOBAL_CONTROL}
        assert control[campaign.id], campaign.kind
        assert all(r.status == lifecycle.R_GLOBAL_CONTROL for r in recipients if r.arm == lifecycle.GLOBAL_CONTROL)
        assert not {o.customer_id for o in world.offers(campaign.id)} & control[campaign.id]
        with Session(world.engine) as s:
            assert lifecycle.campaign_counts(s, campaign.id)["global_control"] == len(control[campaign.id])
    # The same guests stand apart from every campaign (drawn by merchant, not by campaign salt), while each
    # campaign's own holdout is drawn afresh.
    assert control[first.id] == control[second.id]
    holdouts = [{r.customer_id for r in world.recipients(c.id) if r.arm == lifecycle.HOLDOUT} for c in (first, second)]
    assert holdouts[0] != holdouts[1]
