"""Background delivery of due outbox messages (quiet-hour deferrals go out when their time comes)."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine

from core.settings import Settings

log = logging.getLogger(__name__)


class MessageSender:
    def __init__(self, engine: Engine, settings: Settings, *, interval_s: float = 1.0) -> None:
        from guardrails.policy import load_policy
        from tools.factory import make_messaging_provider

        self.engine = engine
        self.provider = make_messaging_provider(settings)
        # The filled message is measured against the merchant's policy (SMS length per encoding).
        self.policy = load_policy(settings.policy_file)
        self.interval_s = interval_s
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        from tools.marketing.outbox import deliver_due_messages

        return deliver_due_messages(self.engine, provider=self.provider, policy=self.policy)

    def run_forever(self) -> None:
        while not self.stop_event.is_set():
            try:
                sent = self.run_once()
            except Exception:
                log.exception("message delivery loop error")
                sent = 0
            if not sent:
                self.stop_event.wait(self.interval_s)

    def join(self, timeout: float = 60.0) -> None:
        """Wait for the loop to finish its current item after `stop()`."""
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def start_thread(self) -> threading.Thread:
        thread = self._thread = threading.Thread(target=self.run_forever, name="message-sender", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.stop_event.set()
