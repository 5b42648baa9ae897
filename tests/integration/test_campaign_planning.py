"""Planning campaigns in the background (`planning` -> `pending_approval`): one planner at a time under a
lease it renews, a dead planner's plan retried by another, errors kept on the campaign and, after the last
attempt, `planning_failed`; a change while planning drops the old plan; `campaigns run-due` plans too."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agent.campaigns import service
from db import campaigns as lifecycle
from db.engine import session_scope
from tests.integration.campaign_world import MERCHANT, World, make_world


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> World:
    return make_world(database_url, tmp_path, customers=200)


def _get(world: World, campaign_id: str) -> Any:
    return service.get(world.agent.ctx, campaign_id, merchant_id=MERCHANT)


def test_a_live_claim_keeps_other_planners_out_and_a_dead_planners_plan_is_retried(world: World) -> None:
    campaign = world.create_unplanned("next_visit", {"days_before": 7})
    claimed = lifecycle.claim_planning(world.engine, campaign.id, planner="A", lease_s=1.0, max_attempts=3)
    assert claimed is not None and claimed.locked_by == "A" and claimed.plan_attempts == 1
    assert lifecycle.claim_planning(world.engine, campaign.id, planner="B", lease_s=1.0, max_attempts=3) is None
    assert service.plan_pending(world.agent.ctx, merchant_id=MERCHANT, planner="B") == []
    assert _get(world, campaign.id).status == lifecycle.PLANNING

    time.sleep(1.2)  # A died holding the claim: its lease runs out
    [planned] = service.plan_pending(world.agent.ctx, merchant_id=MERCHANT, planner="B")
    assert planned.id == campaign.id and planned.status == lifecycle.PENDING_APPROVAL
    assert planned.plan_attempts == 2 and planned.locked_by is None
    assert planned.estimate["audience_size"] > 0 and planned.estimate["sample_drafts"]

    with session_scope(world.engine) as s:  # A comes back with a plan of its own: too late, nothing changes
        assert not lifecycle.finish_planning(s, campaign.id, planner="A", version=1, estimate={"audience_size": -1})
    assert _get(world, campaign.id).estimate == planned.estimate


def test_a_plan_whose_planners_keep_dying_fails_visibly(world: World) -> None:
    campaign = world.create_unplanned("win_back")
    for attempt in range(1, 4):
        claimed = lifecycle.claim_planning(world.engine, campaign.id, planner=f"p{attempt}", lease_s=0.05,
                                           max_attempts=3)
        assert claimed is not None and claimed.plan_attempts == attempt
        time.sleep(0.1)  # and it dies
    assert service.plan(world.agent.ctx, campaign.id, planner="p4", max_attempts=3) is None
    failed = _get(world, campaign.id)
    assert failed.status == lifecycle.PLANNING_FAILED and "3 times" in (failed.plan_error or "")
    assert lifecycle.planning_ids(world.engine, merchant_id=MERCHANT) == []  # not picked up again
    with pytest.raises(service.CampaignConflict, match="could not be planned"):
        service.approve(world.agent.ctx, campaign.id, merchant_id=MERCHANT, approved_by="reviewer:1")

    replanned = service.update(world.agent.ctx, campaign.id, merchant_id=MERCHANT, changes={})
    assert replanned.status == lifecycle.PLANNING and replanned.plan_attempts == 0 and replanned.plan_error is None
    planned = service.plan(world.agent.ctx, campaign.id)
    assert planned is not None and planned.status == lifecycle.PENDING_APPROVAL and planned.version == 2


def test_an_error_is_kept_and_retried_until_the_last_attempt(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    campaign = world.create_unplanned("win_back")
    calls: list[str] = []

    def broken(ctx: Any, c: Any) -> dict[str, Any]:
        calls.append(c.id)
        raise RuntimeError(f"no features ({len(calls)})")

    monkeypatch.setattr(service, "preview", broken)
    [first] = service.plan_pending(world.agent.ctx, merchant_id=MERCHANT, max_attempts=2)
    assert first.status == lifecycle.PLANNING and first.plan_error == "RuntimeError: no features (1)"
    assert lifecycle.planning_ids(world.engine, merchant_id=MERCHANT) == [campaign.id]  # released at once
    [second] = service.plan_pending(world.agent.ctx, merchant_id=MERCHANT, max_attempts=2)
    assert second.status == lifecycle.PLANNING_FAILED and second.plan_error == "RuntimeError: no features (2)"
    assert service.plan_pending(world.agent.ctx, merchant_id=MERCHANT, max_attempts=2) == []
    assert calls == [campaign.id, campaign.id]


def test_a_change_while_planning_drops_the_old_plan(world: World) -> None:
    campaign = world.create_unplanned("next_visit", {"days_before": 7}, holdout_pct=10)
    assert lifecycle.claim_planning(world.engine, campaign.id, planner="A", lease_s=60, max_attempts=3)
    changed = service.update(world.agent.ctx, campaign.id, merchant_id=MERCHANT, changes={"holdout_pct": 40})
    assert changed.status == lifecycle.PLANNING and changed.version == 2 and changed.locked_by is None
    assert not lifecycle.renew_planning(world.engine, campaign.id, planner="A", version=1, lease_s=60)
    with session_scope(world.engine) as s:
        assert not lifecycle.finish_planning(s, campaign.id, planner="A", version=1, estimate={"audience_size": -1})
    [planned] = service.plan_pending(world.agent.ctx, merchant_id=MERCHANT, planner="B")
    assert planned.status == lifecycle.PENDING_APPROVAL and planned.version == 2 and planned.holdout_pct == 40
    assert planned.estimate["audience_size"] > 0


def test_the_lease_is_renewed_while_the_plan_takes_longer_than_it(world: World,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    campaign = world.create_unplanned("win_back")
    real_preview = service.preview

    def slow(ctx: Any, c: Any) -> dict[str, Any]:
        time.sleep(3.0)  # twice the lease
        return real_preview(ctx, c)

    monkeypatch.setattr(service, "preview", slow)
    result: list[Any] = []
    planner = threading.Thread(target=lambda: result.append(
        service.plan(world.agent.ctx, campaign.id, planner="A", lease_s=1.5)))
    planner.start()
    time.sleep(2.0)  # past the first lease: still A's, renewed
    try:
        assert lifecycle.claim_planning(world.engine, campaign.id, planner="B", lease_s=1.5, max_attempts=3) is None
    finally:
        planner.join(timeout=60)
    assert result and result[0] is not None and result[0].status == lifecycle.PENDING_APPROVAL
    assert result[0].plan_attempts == 1


def test_an_automatic_campaign_is_approved_by_the_policy_once_planned(world: World) -> None:
    """ensure_automatic creates and plans at once; if its planner died, the next plan_pending plans it and the
    policy approves it (nobody else would)."""
    from agent.campaigns.spec import Audience, AudienceRule, CampaignSpec

    spec = CampaignSpec(name="Automatic win-back", kind="win_back", audience=Audience(rule=AudienceRule()))
    campaign = service.create(world.agent.ctx, merchant_id=MERCHANT, spec=spec, created_by="policy",
                              automatic_key="win_back:2026-W44", salt="automatic:test")
    [planned] = service.plan_pending(world.agent.ctx, merchant_id=MERCHANT)
    assert planned.id == campaign.id and planned.status == lifecycle.APPROVED and planned.approved_by == "policy"
    assert planned.approved_version == 1


def test_a_segment_query_with_nothing_to_search_is_refused_at_creation(world: World) -> None:
    """The query is resolved when the campaign is created (one embedding, one search; the API maps this to
    422): without a vector store the refusal comes at once, not from a planner minutes later."""
    from agent.campaigns.spec import CampaignSpec

    assert world.agent.ctx.vector_store is None
    spec = CampaignSpec.model_validate({"name": "Salmon lovers", "kind": "next_visit",
                                        "audience": {"query": "orders grilled salmon regularly"}})
    with pytest.raises(service.CampaignError, match="vector store"):
        service.create(world.agent.ctx, merchant_id=MERCHANT, spec=spec, created_by="test")
    assert lifecycle.planning_ids(world.engine, merchant_id=MERCHANT) == []


def test_cli_run_due_plans_the_campaigns_waiting_for_their_plan(world: World,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    campaign = world.create_unplanned("win_back")
    result = world.cli(monkeypatch, "campaigns", "run-due")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    summary = json.loads("\n".join(lines[lines.index("{"):]))  # the summary comes last, after any log lines
    assert summary["planned"] == {campaign.id: lifecycle.PENDING_APPROVAL} and summary["campaigns"] == []
    assert _get(world, campaign.id).estimate["audience_size"] > 0
