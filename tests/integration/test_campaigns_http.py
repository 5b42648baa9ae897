"""Campaigns over HTTP on a real server: created at once (202, `planning`) and planned by the worker, roles,
approval only once planned, a change re-plans and resets the approval, status and counts, clear 4xx for bad
input."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, select

from agent.campaigns.run import CampaignRunner
from api.main import create_app
from db.crud import create_api_key
from db.engine import session_scope
from db.tables import Campaign
from tests.integration.campaign_world import MERCHANT, World, make_world
from tests.integration.conftest import ServerThread


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[tuple[World, httpx.Client, dict[str, dict[str, str]]]]:
    world = make_world(database_url, tmp_path)
    with session_scope(world.engine) as s:
        keys = {role: {"Authorization": f"Bearer {create_api_key(s, role=role)[1]}"}
                for role in ("marketer", "manager", "associate")}
    with ServerThread(create_app(world.settings)) as server, httpx.Client(base_url=server.url, timeout=120) as client:
        yield world, client, keys


BODY = {"name": "Salmon on day 18", "kind": "next_visit", "audience": {"rule": {"days_before": 7}},
        "holdout_pct": 20, "channel": "auto"}


def _planned_by_the_worker(world: World) -> list[str]:
    """One tick of the worker's campaign loop (it plans, then runs what is due: nothing is approved yet)."""
    from loyalty_agent.campaign_worker import CampaignScheduler

    scheduler = CampaignScheduler(world.engine, world.settings, world.agent)
    assert scheduler.run_once() == 0
    with Session(world.engine) as s:
        return list(s.exec(select(Campaign.id).where(col(Campaign.status) == "pending_approval")).all())


def test_create_is_accepted_at_once_and_the_worker_plans_it(
        served: tuple[World, httpx.Client, dict[str, dict[str, str]]], monkeypatch: pytest.MonkeyPatch) -> None:
    world, client, keys = served
    from agent.campaigns import service

    previews: list[str] = []
    real_preview = service.preview

    def counted(ctx: Any, c: Any) -> dict[str, Any]:
        previews.append(c.id)
        return real_preview(ctx, c)

    monkeypatch.setattr(service, "preview", counted)
    r = client.post("/campaigns", json=BODY, headers=keys["marketer"])
    assert r.status_code == 202, r.text
    accepted = r.json()
    campaign = f"/campaigns/{accepted['id']}"
    assert r.headers["location"] == campaign and accepted["links"]["self"] == campaign
    assert accepted["status"] == "planning" and accepted["version"] == 1
    assert accepted["audience_size"] is None and accepted["sample_drafts"] is None and accepted["plan_error"] is None
    assert previews == []  # the request computed no plan: no eligibility, no drafts
    assert client.get(campaign, headers=keys["manager"]).json()["status"] == "planning"
    early = client.post(f"{campaign}/approve", headers=keys["manager"])
    assert early.status_code == 409 and "still being planned" in early.text

    assert _planned_by_the_worker(world) == [accepted["id"]] and previews == [accepted["id"]]
    plan = client.get(campaign, headers=keys["marketer"]).json()
    assert plan["status"] == "pending_approval" and plan["version"] == 1 and plan["plan_error"] is None
    assert plan["audience_size"] == plan["holdout_size"] + plan["treatment_size"] > 0 and plan["holdout_size"] > 0
    assert 1 <= len(plan["sample_drafts"]) <= 3
    for sample in plan["sample_drafts"]:
        assert re.fullmatch(r"g_[0-9a-f]{16}", sample["customer"])  # pseudonymous reference only
        if sample["make_offer"]:
            assert sample["verdict"] in ("pass", "escalate", "block")
            assert {v["rule"] for v in sample["verdicts"]} >= {"consent", "allergens", "margin", "fatigue"}
    cost = plan["estimated_cost"]
    assert cost["sampled_drafts"] >= len(plan["sample_drafts"]) and "max_total_offer_value_cents" in cost
    assert _planned_by_the_worker(world) == [accepted["id"]] and len(previews) == 1  # planned once


def test_approve_change_and_status(served: tuple[World, httpx.Client, dict[str, dict[str, str]]]) -> None:
    world, client, keys = served
    created = client.post("/campaigns", json=BODY, headers=keys["marketer"]).json()
    campaign = f"/campaigns/{created['id']}"
    _planned_by_the_worker(world)

    assert client.post("/campaigns", json=BODY, headers=keys["associate"]).status_code == 403
    assert client.post(f"{campaign}/approve", headers=keys["marketer"]).status_code == 403
    approved = client.post(f"{campaign}/approve", headers=keys["manager"])
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert approved.json()["approved_version"] == 1

    changed = client.patch(campaign, json={"holdout_pct": 30}, headers=keys["marketer"])
    assert changed.status_code == 202, changed.text
    assert changed.headers["location"] == campaign
    assert changed.json()["status"] == "planning" and changed.json()["version"] == 2
    assert changed.json()["approved_by"] is None and changed.json()["holdout_pct"] == 30
    assert changed.json()["audience_size"] is None  # the old plan is gone with the old version
    replanning = client.post(f"{campaign}/approve", json={"version": 2}, headers=keys["manager"])
    assert replanning.status_code == 409 and "still being planned" in replanning.text
    _planned_by_the_worker(world)
    replanned = client.get(campaign, headers=keys["manager"]).json()
    assert replanned["status"] == "pending_approval" and replanned["version"] == 2
    assert replanned["holdout_size"] > 0 and replanned["sample_drafts"]
    stale = client.post(f"{campaign}/approve", json={"version": 1}, headers=keys["manager"])
    assert stale.status_code == 409 and "not 1" in stale.text
    assert client.post(f"{campaign}/approve", json={"version": 2}, headers=keys["manager"]).status_code == 200

    assert CampaignRunner(world.agent).run_due(MERCHANT).campaigns == [created["id"]]
    status = client.get(campaign, headers=keys["marketer"]).json()
    assert status["status"] == "completed"
    counts = status["counts"]
    for key in ("drafted", "sent", "scheduled", "blocked_by_rule", "escalated", "skipped_fatigue", "holdout"):
        assert key in counts
    assert counts["holdout"] > 0 and counts["drafted"] > 0
    late = client.patch(campaign, json={"name": "too late"}, headers=keys["marketer"])
    assert late.status_code == 409 and "too late" in late.text


def test_a_failed_plan_is_shown_and_a_change_plans_it_again(
        served: tuple[World, httpx.Client, dict[str, dict[str, str]]], monkeypatch: pytest.MonkeyPatch) -> None:
    world, client, keys = served
    from agent.campaigns import service

    created = client.post("/campaigns", json=BODY, headers=keys["marketer"]).json()
    campaign = f"/campaigns/{created['id']}"
    real_preview = service.preview

    def broken(ctx: object, c: object) -> dict[str, object]:
        raise RuntimeError("features table unreadable")

    monkeypatch.setattr(service, "preview", broken)
    [failed] = service.plan_pending(world.agent.ctx, merchant_id=MERCHANT, max_attempts=1)
    assert failed.status == "planning_failed"
    shown = client.get(campaign, headers=keys["marketer"]).json()
    assert shown["status"] == "planning_failed" and "features table unreadable" in shown["plan_error"]
    refused = client.post(f"{campaign}/approve", headers=keys["manager"])
    assert refused.status_code == 409 and "could not be planned" in refused.text
    assert service.plan_pending(world.agent.ctx, merchant_id=MERCHANT) == []  # not retried on its own

    monkeypatch.setattr(service, "preview", real_preview)
    again = client.patch(campaign, json={}, headers=keys["marketer"])
    assert again.status_code == 202 and again.json()["status"] == "planning" and again.json()["plan_error"] is None
    assert _planned_by_the_worker(world) == [created["id"]]
    assert client.post(f"{campaign}/approve", headers=keys["manager"]).status_code == 200


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({**BODY, "audience": {"rule": {"churn_risk_min": 0.5}}}, "does not apply to a next_visit"),
        ({**BODY, "audience": {"rule": {"tierz": ["gold"]}}}, "tierz"),
        ({**BODY, "audience": {"query": "salmon", "rule": {}}}, "exactly one of"),
        ({**BODY, "holdout_pct": 90}, "holdout_pct"),
        ({**BODY, "kind": "anniversary"}, "kind"),
        ({**BODY, "channel": "fax"}, "channel"),
        ({**BODY, "send_at": "2026-11-02T10:00:00"}, "send_at"),
    ],
)
def test_bad_campaigns_are_422_with_the_reason(served: tuple[World, httpx.Client, dict[str, dict[str, str]]],
                                               body: dict[str, object], fragment: str) -> None:
    _world, client, keys = served
    r = client.post("/campaigns", json=body, headers=keys["marketer"])
    assert r.status_code == 422 and fragment in r.text, r.text


def test_unknown_campaign_is_404(served: tuple[World, httpx.Client, dict[str, dict[str, str]]]) -> None:
    _world, client, keys = served
    assert client.get("/campaigns/cmp_nope", headers=keys["manager"]).status_code == 404
    assert client.post("/campaigns/cmp_nope/approve", headers=keys["manager"]).status_code == 404


def test_a_segment_query_audience_is_resolved_once_and_split(database_url: str, tmp_path: Path) -> None:
    """`{"query": ...}`: the hybrid segment search over the indexed profiles picks the candidates when the
    campaign is planned (stored, so the run needs no vector store); eligibility and the split follow."""
    from agent.campaigns import service
    from agent.campaigns.spec import CampaignSpec
    from agent.indexing import reindex_all
    from agent.runner import build_agent

    world = make_world(database_url, tmp_path, customers=300)
    agent = build_agent(world.settings, world.engine)  # with the embedded vector store and the local embedder
    try:
        assert reindex_all(world.settings, store=agent.ctx.vector_store, embedder=agent.ctx.embedder) > 0
        spec = CampaignSpec.model_validate({"name": "Salmon lovers", "kind": "next_visit", "holdout_pct": 20,
                                            "audience": {"query": "orders grilled salmon regularly", "limit": 120}})
        created = service.create(agent.ctx, merchant_id=MERCHANT, spec=spec, created_by="test")
    finally:
        agent.close()
    # What stays in the request: the query's resolution (one embedding, one search), not the plan.
    assert created.status == "planning" and created.estimate == {} and created.audience_snapshot
    campaign = service.plan(world.agent.ctx, created.id)  # the worker's agent: no vector store, the snapshot serves
    assert campaign is not None and campaign.status == "pending_approval"
    assert campaign.audience_snapshot is not None and 0 < len(campaign.audience_snapshot) <= 120
    assert campaign.estimate["candidates"] == len(campaign.audience_snapshot)
    world.approve(campaign)
    CampaignRunner(world.agent).run_due(MERCHANT)  # the runner's agent has no vector store: the snapshot serves
    recipients = world.recipients(campaign.id)
    assert recipients and {r.customer_id for r in recipients} <= set(campaign.audience_snapshot)
    assert len(recipients) == campaign.estimate["audience_size"]
