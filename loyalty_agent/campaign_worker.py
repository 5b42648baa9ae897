"""The worker's campaign loop: every `campaign_poll_interval_s`, for every merchant, plan the campaigns
waiting for their plan (created or changed through the API: `planning` -> `pending_approval`), start the
policy's automatic campaigns of the period and run the approved campaigns whose time has come (on the
merchant's clock).

Several processes may run it (PostgreSQL scale-out): plans, campaigns and recipients are claimed by
compare-and-set with leases, so a campaign is planned and run in one place at a time, a guest is decided
once, and the work of a process that died is taken over once its lease ends.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from agent.campaigns import service
from agent.campaigns.run import CampaignRunner
from agent.runner import OfferAgent
from core.settings import Settings
from db.tables import Merchant

log = logging.getLogger(__name__)


class CampaignScheduler:
    def __init__(self, engine: Engine, settings: Settings, agent: OfferAgent) -> None:
        self.engine = engine
        self.runner = CampaignRunner(agent)
        self.interval_s = settings.campaign_poll_interval_s
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Plan what waits for its plan and run what is due, for every merchant; returns how many campaigns
        ran."""
        with Session(self.engine) as session:
            merchants = list(session.exec(select(Merchant.id)).all())
        ran = 0
        for merchant_id in merchants:
            for planned in service.plan_pending(self.runner.agent.ctx, merchant_id=merchant_id):
                log.info("campaign %s planned: %s", planned.id, planned.status)
            summary = self.runner.run_due(merchant_id)
            ran += len(summary.campaigns)
            for campaign_id in summary.campaigns:
                log.info("campaign %s ran: %s", campaign_id, dict(summary.outcomes))
        return ran

    def run_forever(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("campaign loop error")
            self.stop_event.wait(self.interval_s)

    def join(self, timeout: float = 60.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def start_thread(self) -> threading.Thread:
        thread = self._thread = threading.Thread(target=self.run_forever, name="campaigns", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.stop_event.set()
