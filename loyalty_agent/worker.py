"""The inbox worker: claims events, records them, runs the offer graph, marks done/failed.

Postgres: run as many workers as you like (claims use FOR UPDATE SKIP LOCKED).
SQLite: one worker (in the API process on the embedded default).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from pydantic import ValidationError
from sqlalchemy.engine import Engine

from core.events import CustomerUpdated, parse_generic
from core.settings import Settings
from db.engine import session_scope
from db.heartbeats import BEAT_EVERY_S, beat, forget
from db.inbox import claim_events, complete_event, fail_event
from db.ingest import IngestError, OfferRunner, record_sale, upsert_customer
from db.offers import reclaim_expired_reviews
from db.tables import InboxEvent
from tools.errors import PermanentError, ToolUnavailable
from tools.pos.square_events import square_to_generic

log = logging.getLogger(__name__)

def lost_database(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is the database connection going away, not the event's fault:
    SQLAlchemy's and psycopg's OperationalError/InterfaceError (a killed backend, a restart, a failover;
    SQLite's busy database too)."""
    import psycopg
    from sqlalchemy import exc as sa_exc

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, sa_exc.OperationalError | sa_exc.InterfaceError | psycopg.OperationalError
                      | psycopg.InterfaceError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class PermanentEventError(Exception):
    """Retrying will not help (bad data that passed the webhook's checks, unknown location...)."""


ProfileRecheck = Callable[[int], object]
"""Called with our customer id after a guest-profile update is recorded (agent.runner.OfferAgent.recheck_customer):
re-checks that guest's pending and scheduled offers against the new profile."""


def process_event(engine: Engine, settings: Settings, event: InboxEvent,
                  offer_runner: OfferRunner | None = None, profile_recheck: ProfileRecheck | None = None) -> str:
    """Record one event and return its outcome. Raises PermanentEventError for bad data.

    A profile update is committed first, then re-checked: if the re-check fails the event is retried,
    and recording the same update again yields the same profile (the re-check is compare-and-set throughout)."""
    try:
        parsed = square_to_generic(event, settings) if event.provider == "square" else parse_generic(event.payload)
    except (ValidationError, KeyError, TypeError) as exc:
        raise PermanentEventError(f"payload no longer validates: {exc}") from exc
    except PermanentError as exc:  # e.g. Square does not know the order; Square being down is retried
        raise PermanentEventError(str(exc)) from exc
    if parsed is None:
        return "ignored"
    secret = settings.resolved_pseudonym_secret()
    try:
        with session_scope(engine) as session:
            if isinstance(parsed, CustomerUpdated):
                customer = upsert_customer(session, data=parsed.data, pseudonym_secret=secret,
                                           merchant_id=event.merchant_id or settings.default_merchant_id)
                updated_customer_id = customer.id
            else:
                recorded = record_sale(session, sale=parsed, event_id=event.id, pseudonym_secret=secret,
                                       checks=settings.sale_checks)
    except IngestError as exc:
        raise PermanentEventError(str(exc)) from exc
    if isinstance(parsed, CustomerUpdated):
        if profile_recheck is not None and updated_customer_id is not None:
            profile_recheck(updated_customer_id)
        return "profile_updated"
    if not recorded.created and recorded.source_event_id != event.id:
        return "duplicate_sale"  # another event recorded this sale (Square: payment + order) and decides it
    if offer_runner is None or recorded.customer_id is None:
        return "no_offer"
    return offer_runner(event, recorded)


class Worker:
    """Claims and processes inbox rows until stopped."""

    def __init__(self, engine: Engine, settings: Settings, *, offer_runner: OfferRunner | None = None,
                 profile_recheck: ProfileRecheck | None = None, worker_id: str | None = None,
                 batch_size: int = 8) -> None:
        self.engine = engine
        self.settings = settings
        self.offer_runner = offer_runner
        self.profile_recheck = profile_recheck
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        self.batch_size = batch_size
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_reclaim = 0.0
        self._next_beat = 0.0

    def run_once(self) -> int:
        """Claim and process one batch; returns how many events were handled."""
        self._beat()
        self._reclaim_expired_reviews()
        events = claim_events(self.engine, worker_id=self.worker_id, limit=self.batch_size,
                              lease_s=self.settings.worker_lease_s, max_attempts=self.settings.worker_max_attempts)
        for event in events:
            self._beat()
            try:
                self._handle(event)
            except Exception as exc:
                if not lost_database(exc):
                    raise
                # Recording this event's outcome lost its connection: its lease brings it back (a finished
                # decision is not run twice). The rest of the batch goes on, instead of waiting out its leases.
                log.warning("event %s: outcome not recorded, the database connection was lost: %s", event.id, exc)
        return len(events)

    def _beat(self) -> None:
        """Tell /healthz this worker is alive (every BEAT_EVERY_S; idle or deciding)."""
        now = time.monotonic()
        if now < self._next_beat:
            return
        self._next_beat = now + BEAT_EVERY_S
        try:
            beat(self.engine, self.worker_id)
        except Exception:  # never costs the batch in hand; a lasting outage shows as no alive worker
            log.warning("worker %s: heartbeat not recorded", self.worker_id, exc_info=True)

    def _reclaim_expired_reviews(self) -> None:
        """Offers whose reviewer's process died mid-review go back to the queue once the lease is over."""
        now = time.monotonic()
        if now < self._next_reclaim:
            return
        self._next_reclaim = now + min(30.0, self.settings.review_lease_s / 4)
        for offer_id in reclaim_expired_reviews(self.engine):
            log.warning("offer %s: review lease expired; back to pending_review", offer_id)

    def _handle(self, event: InboxEvent) -> None:
        s = self.settings
        try:
            outcome = process_event(self.engine, s, event, self.offer_runner, self.profile_recheck)
        except PermanentEventError as exc:
            log.warning("event %s failed permanently: %s", event.id, exc)
            fail_event(self.engine, event_id=event.id, worker_id=self.worker_id, error=str(exc),
                       attempts=event.attempts, max_attempts=s.worker_max_attempts,
                       backoff_base_s=s.worker_backoff_base_s, permanent=True)
            return
        except Exception as exc:  # transient or unknown: retried with backoff, never lost
            log.exception("event %s failed (attempt %s)", event.id, event.attempts)
            fail_event(self.engine, event_id=event.id, worker_id=self.worker_id,
                       error=f"{type(exc).__name__}: {exc}", attempts=event.attempts,
                       max_attempts=s.worker_max_attempts, backoff_base_s=s.worker_backoff_base_s,
                       infrastructure=lost_database(exc) or isinstance(exc, ToolUnavailable))
            return
        if not complete_event(self.engine, event_id=event.id, worker_id=self.worker_id, outcome=outcome):
            log.warning("event %s: lease lost before completion; another worker will finish it", event.id)

    def run_forever(self) -> None:
        log.info("worker %s started", self.worker_id)
        while not self.stop_event.is_set():
            try:
                handled = self.run_once()
            except Exception:
                log.exception("worker loop error")
                handled = 0
            if handled == 0:
                self.stop_event.wait(self.settings.worker_poll_interval_s)
        try:
            forget(self.engine, self.worker_id)
        except Exception:  # the row ages out instead
            log.warning("worker %s: could not remove its heartbeat", self.worker_id, exc_info=True)

    def join(self, timeout: float = 60.0) -> None:
        """Wait for the loop to finish its current item after `stop()`."""
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def start_thread(self) -> threading.Thread:
        thread = self._thread = threading.Thread(target=self.run_forever, name=f"worker-{self.worker_id}", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.stop_event.set()
