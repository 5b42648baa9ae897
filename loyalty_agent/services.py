"""Background services of a process: inbox workers, the message sender, the initial vector index.

A worker process (loyalty_agent.processes) runs them; `in_process(workers)` runs them as threads of an
API app's process instead (tests that drive the app in one process). The API package never imports
this module (it sits below the roof).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.engine import Engine

from agent.indexing import reindex_all
from agent.runner import get_agent, make_offer_runner
from core.settings import Settings
from loyalty_agent.campaign_worker import CampaignScheduler
from loyalty_agent.sender import MessageSender
from loyalty_agent.worker import Worker

log = logging.getLogger(__name__)


def start_background_index(settings: Settings, engine: Engine) -> threading.Thread:
    """Build profiles + vectors once if the store is empty, without holding up start-up: decisions
    made meanwhile simply have fewer similar guests to draw complements from."""

    def run() -> None:
        try:
            agent = get_agent(settings, engine)
            n = reindex_all(settings, only_if_empty=True, store=agent.ctx.vector_store, embedder=agent.ctx.embedder)
            if n:
                log.info("background index built: %d customer profiles", n)
        except Exception:
            log.exception("background indexing failed; run `loyalty-agent reindex`")

    thread = threading.Thread(target=run, name="initial-index", daemon=True)
    thread.start()
    return thread


class BackgroundServices:
    """`workers` inbox workers plus (with `sender`) the message sender and the campaign loop, as threads of
    this process."""

    def __init__(self, settings: Settings, engine: Engine, *, workers: int, sender: bool = True) -> None:
        runner = make_offer_runner(settings, engine)
        recheck = get_agent(settings, engine).recheck_customer
        self.pool: list[Worker | MessageSender | CampaignScheduler] = [
            Worker(engine, settings, offer_runner=runner, profile_recheck=recheck) for _ in range(workers)
        ]
        if sender:  # one place for the sender and the campaign loop (both would be safe elsewhere too)
            self.pool.append(MessageSender(engine, settings))
            self.pool.append(CampaignScheduler(engine, settings, get_agent(settings, engine)))
        self.threads: list[threading.Thread] = []
        self._stop_requested = threading.Event()

    def start(self) -> BackgroundServices:
        self.threads = [w.start_thread() for w in self.pool]
        return self

    def request_stop(self) -> None:
        self._stop_requested.set()
        for w in self.pool:
            w.stop()

    def stopping(self) -> bool:
        return self._stop_requested.is_set()

    def stop(self) -> None:
        """Stop and wait for every service to finish its current item."""
        self.request_stop()
        for w in self.pool:
            w.join()

    def wait(self) -> None:
        """Block until every service has stopped (after `request_stop`, e.g. from a signal handler)."""
        for thread in self.threads:
            while thread.is_alive():
                thread.join(timeout=0.5)


def in_process(workers: int) -> Callable[[Settings, Engine], Callable[[], None]]:
    """For `create_app(background=...)`: start `workers` workers + the sender (none when 0) and, if the
    settings ask for it, the initial index build; returns the function that stops them."""

    def start(settings: Settings, engine: Engine) -> Callable[[], None]:
        if workers <= 0:
            return lambda: None
        services = BackgroundServices(settings, engine, workers=workers).start()
        if settings.index_on_start:
            start_background_index(settings, engine)
        return services.stop

    return start
