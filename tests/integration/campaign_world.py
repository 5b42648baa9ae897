"""A seeded sandbox restaurant on a test clock, with an offer agent, for campaign tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.campaigns import service
from agent.campaigns.run import CampaignRunner
from agent.campaigns.spec import CampaignSpec
from agent.runner import OfferAgent, build_agent
from core.settings import Settings
from db.clock import start_test_clock
from db.engine import make_engine, session_scope
from db.tables import Campaign, CampaignRecipient, Offer, OutboundMessage, PromoCode
from sandbox.restaurant import DEFAULT_END
from sandbox.seed import seed_database
from tests.integration.conftest import make_settings

MERCHANT = "m_sandbox"
CLOCK = datetime.combine(DEFAULT_END, time(15, 0), tzinfo=UTC)  # 11:00 in New York: outside quiet hours


@dataclass
class World:
    settings: Settings
    engine: Engine
    agent: OfferAgent

    def create(self, kind: str, rule: dict[str, Any] | None = None, holdout_pct: float = 20, *,
               salt: str | None = None, **extra: Any) -> Campaign:
        """A campaign with a fixed split (salt from its definition, unless given), planned as the worker plans
        it (pending approval): tests are reproducible."""
        campaign = self.create_unplanned(kind, rule, holdout_pct, salt=salt, **extra)
        planned = service.plan(self.agent.ctx, campaign.id)
        assert planned is not None and planned.status == "pending_approval", planned
        return planned

    def create_unplanned(self, kind: str, rule: dict[str, Any] | None = None, holdout_pct: float = 20, *,
                         salt: str | None = None, **extra: Any) -> Campaign:
        """The campaign as `POST /campaigns` leaves it: `planning`, no plan yet."""
        spec = CampaignSpec.model_validate({"name": f"{kind} test", "kind": kind, "audience": {"rule": rule or {}},
                                            "holdout_pct": holdout_pct, **extra})
        return service.create(self.agent.ctx, merchant_id=MERCHANT, spec=spec, created_by="test",
                              salt=salt or f"test:{kind}:{sorted((rule or {}).items())}:{holdout_pct}")

    def approve(self, campaign: Campaign) -> Campaign:
        return service.approve(self.agent.ctx, campaign.id, merchant_id=MERCHANT, approved_by="reviewer:1")

    def run_due(self, runner: CampaignRunner | None = None) -> Any:
        return (runner or CampaignRunner(self.agent)).run_due(MERCHANT)

    def cli(self, monkeypatch: Any, *args: str) -> Any:
        """`loyalty-agent ARGS` against this world's database (a typer CliRunner result)."""
        from typer.testing import CliRunner

        from core.settings import get_settings
        from loyalty_agent.cli import app

        monkeypatch.setenv("DATABASE_URL", self.settings.database_url)
        monkeypatch.setenv("DATA_DIR", str(self.settings.data_dir))
        monkeypatch.setenv("PSEUDONYM_SECRET", "test-pseudonyms")
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(app, list(args))
        finally:
            get_settings.cache_clear()

    def recipients(self, campaign_id: str) -> list[CampaignRecipient]:
        with Session(self.engine) as s:
            return list(s.exec(select(CampaignRecipient).where(col(CampaignRecipient.campaign_id) == campaign_id)))

    def offers(self, campaign_id: str) -> list[Offer]:
        with Session(self.engine) as s:
            return list(s.exec(select(Offer).where(col(Offer.campaign_id) == campaign_id)))

    def messages(self, offer_ids: list[str]) -> list[OutboundMessage]:
        with Session(self.engine) as s:
            return list(s.exec(select(OutboundMessage).where(col(OutboundMessage.offer_id).in_(offer_ids))))

    def promo_codes(self, offer_ids: list[str]) -> list[PromoCode]:
        with Session(self.engine) as s:
            return list(s.exec(select(PromoCode).where(col(PromoCode.offer_id).in_(offer_ids))))


def make_world(database_url: str, data_dir: Path, *, customers: int = 400, clock: datetime = CLOCK,
               **settings: Any) -> World:
    engine = make_engine(database_url)
    seed_database(engine, customers=customers)
    with session_scope(engine) as s:
        start_test_clock(s, MERCHANT, at=clock)
    config = make_settings(database_url, data_dir, index_on_start=False, **settings)
    return World(config, engine, build_agent(config, engine, with_vectors=False))
