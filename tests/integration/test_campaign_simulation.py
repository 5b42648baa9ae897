"""Done-when of the campaigns issue, on the sandbox: a next-visit and a win-back campaign run end to end
(approved, sent within every rule, the holdout untouched), the simulated guests respond with known
probabilities and their sales come back as signed webhooks through the real server and worker (codes
redeemed at the till), the report counts exactly what the guests did, and its 95 % interval covers the true
uplift at its nominal rate.

One simulation is one draw: its interval may miss the truth (5 % of draws do). So the run checks that the
product's report equals, count for count, what the simulated guests did under the run's seed; then the
same guests and offers are drawn again under 300 other seeds, and the report's own interval
(profiles.uplift.difference) must cover the true effect in at least 90 % of them, per campaign and metric.
Deterministic: sandbox seed, responders' draws, offline drafter and the split salts are fixed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from api.main import create_app
from core.settings import get_settings
from db import campaigns as lifecycle
from db import offers
from db.clock import merchant_now
from db.redemptions import REDEEMED
from db.tables import Campaign, Offer, PromoRedemption
from loyalty_agent.cli import app
from loyalty_agent.services import in_process
from profiles.campaign_report import campaign_report
from profiles.uplift import difference
from sandbox import simulate as simulation
from tests.integration.campaign_world import MERCHANT, make_world
from tests.integration.conftest import ServerThread

POLICY = "escalation: {min_confidence: 0.45, high_value_tiers: [], offer_value_threshold_cents: 1500}\n"


def test_sandbox_campaigns_end_to_end_and_the_report_covers_the_true_uplift(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    world = make_world(database_url, tmp_path, customers=2500, policy_file=policy)
    campaigns = [world.create("next_visit", {"days_before": 5}, holdout_pct=30, window_days=14, salt="fixed-salt-0"),
                 world.create("win_back", holdout_pct=30, window_days=14, salt="fixed-salt-1")]
    for campaign in campaigns:
        world.approve(campaign)

    for name, value in (("DATABASE_URL", database_url), ("DATA_DIR", str(tmp_path)), ("POLICY_FILE", str(policy)),
                        ("PSEUDONYM_SECRET", "test-pseudonyms"), ("POS_WEBHOOK_SECRET", "test-secret")):
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        with ServerThread(create_app(world.settings, background=in_process(1))) as server:
            result = CliRunner().invoke(app, ["simulate", "--days", "14", "--url", server.url])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    truth = {t["campaign_id"]: t for t in json.loads(result.output[result.output.index("{"):])["true_effects"]}

    guests, held = simulation.load_guests(world.engine, seed=42), simulation.held_offers(world.engine)
    with Session(world.engine) as s:
        as_of = merchant_now(s, MERCHANT)
        for campaign in campaigns:
            stored = s.get(Campaign, campaign.id)
            assert stored is not None and stored.status == lifecycle.COMPLETED
            report = campaign_report(s, stored, as_of=as_of, min_detectable_effect=0.05)
            true = truth[campaign.id]
            assert report["window"]["complete"] and true["days_simulated"] == 14 and not report["srm"]["mismatch"]
            arms = {arm: [r.customer_id for r in lifecycle.recipients(s, campaign.id, arms=(arm,))]
                    for arm in (lifecycle.TREATMENT, lifecycle.HOLDOUT)}
            days = simulation.window_days(stored, as_of)

            def draw(seed: int, arm: str, arms: dict[str, list[int]] = arms, campaign_id: str = stored.id,
                     days: list[Any] = days) -> tuple[int, int]:
                return simulation.draw_outcomes(guests, held, arms[arm], campaign_id=campaign_id, seed=seed,
                                                day_starts=days)

            # The report counts exactly what the simulated guests did (through webhooks, worker, till codes).
            for arm in arms:
                group = report["groups"][arm]
                assert (group["visitors"], group["redeemed"]) == draw(42, arm), (campaign.kind, arm)
            # Its interval covers the true uplift at the nominal rate over other draws of the same experiment.
            covered = {"visit_rate": 0, "redemption_rate": 0}
            for seed in range(1000, 1300):
                (t_visit, t_redeem), (h_visit, h_redeem) = draw(seed, "treatment"), draw(seed, "holdout")
                n_t, n_h = len(arms["treatment"]), len(arms["holdout"])
                for metric, counts in (("visit_rate", (t_visit, h_visit)), ("redemption_rate", (t_redeem, h_redeem))):
                    low, high = difference(counts[0], n_t, counts[1], n_h).ci95  # type: ignore[misc]
                    covered[metric] += low <= true[metric]["uplift"] <= high
            assert min(covered.values()) >= 270, (campaign.kind, covered)

            # Sent within every rule, the holdout untouched, redemptions through signed sales.
            rows = s.exec(select(Offer).where(col(Offer.campaign_id) == campaign.id)).all()
            assert rows and not {o.customer_id for o in rows} & set(arms[lifecycle.HOLDOUT])
            assert all(v["verdict"] != "block" for o in rows if o.status == offers.SENT for v in o.verdicts)
            codes = [o.promo_code for o in rows if o.promo_code]
            redeemed = s.exec(select(PromoRedemption).where(col(PromoRedemption.code).in_(codes),
                                                            col(PromoRedemption.outcome) == REDEEMED)).all()
            assert len(redeemed) == report["groups"]["treatment"]["redeemed"] > 0
