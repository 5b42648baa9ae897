"""Campaigns over HTTP on a real server: plan for approval (201), roles, a change resets the approval, status
and counts, clear 4xx for bad input."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.campaigns.run import CampaignRunner
from api.main import create_app
from db.crud import create_api_key
from db.engine import session_scope
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


def test_plan_approve_change_and_status(served: tuple[World, httpx.Client, dict[str, dict[str, str]]]) -> None:
    world, client, keys = served
    r = client.post("/campaigns", json=BODY, headers=keys["marketer"])
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["status"] == "pending_approval" and plan["version"] == 1
    assert plan["audience_size"] == plan["holdout_size"] + plan["treatment_size"] > 0 and plan["holdout_size"] > 0
    assert 1 <= len(plan["sample_drafts"]) <= 3
    for sample in plan["sample_drafts"]:
        assert re.fullmatch(r"g_[0-9a-f]{16}", sample["customer"])  # pseudonymous reference only
        if sample["make_offer"]:
            assert sample["verdict"] in ("pass", "escalate", "block")
            assert {v["rule"] for v in sample["verdicts"]} >= {"consent", "allergens", "margin", "fatigue"}
    cost = plan["estimated_cost"]
    assert cost["sampled_drafts"] >= len(plan["sample_drafts"]) and "max_total_offer_value_cents" in cost
    campaign = f"/campaigns/{plan['id']}"

    assert client.post("/campaigns", json=BODY, headers=keys["associate"]).status_code == 403
    assert client.post(f"{campaign}/approve", headers=keys["marketer"]).status_code == 403
    approved = client.post(f"{campaign}/approve", headers=keys["manager"])
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert approved.json()["approved_version"] == 1

    changed = client.patch(campaign, json={"holdout_pct": 30}, headers=keys["marketer"])
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "pending_approval" and changed.json()["version"] == 2
    assert changed.json()["approved_by"] is None and changed.json()["holdout_pct"] == 30
    stale = client.post(f"{campaign}/approve", json={"version": 1}, headers=keys["manager"])
    assert stale.status_code == 409 and "not 1" in stale.text
    assert client.post(f"{campaign}/approve", json={"version": 2}, headers=keys["manager"]).status_code == 200

    assert CampaignRunner(world.agent).run_due(MERCHANT).campaigns == [plan["id"]]
    status = client.get(campaign, headers=keys["marketer"]).json()
    assert status["status"] == "completed"
    counts = status["counts"]
    for key in ("drafted", "sent", "scheduled", "blocked_by_rule", "escalated", "skipped_fatigue", "holdout"):
        assert key in counts
    assert counts["holdout"] > 0 and counts["drafted"] > 0
    late = client.patch(campaign, json={"name": "too late"}, headers=keys["marketer"])
    assert late.status_code == 409 and "too late" in late.text


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
        campaign = service.create(agent.ctx, merchant_id=MERCHANT, spec=spec, created_by="test")
    finally:
        agent.close()
    assert campaign.audience_snapshot is not None and 0 < len(campaign.audience_snapshot) <= 120
    assert campaign.estimate["candidates"] == len(campaign.audience_snapshot)
    world.approve(campaign)
    CampaignRunner(world.agent).run_due(MERCHANT)  # the runner's agent has no vector store: the snapshot serves
    recipients = world.recipients(campaign.id)
    assert recipients and {r.customer_id for r in recipients} <= set(campaign.audience_snapshot)
    assert len(recipients) == campaign.estimate["audience_size"]
