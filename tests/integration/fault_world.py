"""Faults against the real product (serve / worker subprocesses), and the exactly-once audit after them.

Shared by tests/integration/test_faults.py (short forms, in CI) and benchmarks/faults.py (full length,
`make bench`). Each run sends signed sales for seeded regulars to a real `serve`, injects a fault while
they are decided, and then `audit_effects` checks the outcome from the database and from the
messaging provider's side (a recording HTTP provider on loopback, the edge we do not own):

- every event is terminal and `done` (nothing lost, nothing stuck);
- an offer `sent` has exactly one promo code (or one points ledger row for a bonus) and exactly one
  outbound message; an offer not sent has none of them;
- each guest's points balance moved by exactly the ledger rows written during the run;
- the provider received at most one distinct message per offer (retries reuse the idempotency key);
- nothing half-written: every recorded sale of the run has its lines, every offer row its event.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col

from db.engine import get_engine
from db.tables import (
    Customer,
    InboxEvent,
    LoyaltyLedger,
    Offer,
    OutboundMessage,
    PosTransaction,
    PromoCode,
    TransactionLine,
)
from tests.integration.live_serve import Deployment, LiveServe, alive

NO_QUIET_HOURS_POLICY = """# faults: send at once whatever the hour, so the provider sees every message during the run
quiet_hours: {start: "00:00", end: "00:00"}
"""


class RecordingProvider:
    """The marketing provider's HTTP API (`POST /messages`, Idempotency-Key) on loopback, recording calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                key = self.headers.get("Idempotency-Key", "")
                with provider._lock:
                    provider.calls.append((key, body))
                out = json.dumps({"id": f"msg_{abs(hash(key)) % 10**12}"}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def keys(self) -> list[str]:
        with self._lock:
            return [k for k, _ in self.calls]

    def close(self) -> None:
        self.server.shutdown()


def fault_env(dep: Deployment, provider: RecordingProvider, **extra: str) -> dict[str, str]:
    policy = dep.data_dir.parent / "faults_policy.yaml"
    policy.write_text(NO_QUIET_HOURS_POLICY)
    return dep.env(MARKETING_PROVIDER="http", MARKETING_BASE_URL=provider.url, POLICY_FILE=str(policy),
                   INDEX_ON_START="false", **extra)


def points_by_customer(database_url: str) -> dict[int, int]:
    with Session(get_engine(database_url)) as session:
        return {int(cid): int(points) for cid, points in session.execute(select(Customer.id, Customer.points))}  # type: ignore[call-overload]


@dataclass
class Audit:
    events: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    sent_offers: int = 0
    deliveries: int = 0
    problems: list[str] = field(default_factory=list)


def audit_effects(database_url: str, event_ids: list[str], *, points_before: dict[int, int],
                  provider: RecordingProvider | None, started_ledger_id: int) -> Audit:
    result = Audit(events=len(event_ids))
    problems = result.problems
    with Session(get_engine(database_url)) as s:
        rows = list(s.execute(select(InboxEvent).where(col(InboxEvent.id).in_(event_ids))).scalars())
        if len(rows) != len(event_ids):
            problems.append(f"{len(event_ids) - len(rows)} events lost from the inbox")
        for row in rows:
            result.outcomes[str(row.outcome)] = result.outcomes.get(str(row.outcome), 0) + 1
            if row.status != "done":
                problems.append(f"event {row.id} is {row.status} ({row.last_error})")
        offers = list(s.execute(select(Offer).where(col(Offer.event_id).in_(event_ids))).scalars())
        per_event: dict[str | None, int] = defaultdict(int)
        for offer in offers:
            per_event[offer.event_id] += 1
        problems += [f"event {e} has {n} offers" for e, n in per_event.items() if n > 1]
        ids = [o.id for o in offers]

        def by_offer(model: Any) -> dict[str, int]:
            return dict(s.execute(select(model.offer_id, func.count()).where(col(model.offer_id).in_(ids))
                                  .group_by(model.offer_id)).all())  # type: ignore[arg-type]

        codes, ledger, messages = by_offer(PromoCode), by_offer(LoyaltyLedger), by_offer(OutboundMessage)
        for offer in offers:
            want_code = 1 if offer.status == "sent" and offer.offer_type != "bonus_points" else 0
            want_points = 1 if offer.status == "sent" and offer.offer_type == "bonus_points" else 0
            want_message = 1 if offer.status == "sent" else 0
            got = (codes.get(offer.id, 0), ledger.get(offer.id, 0), messages.get(offer.id, 0))
            if got != (want_code, want_points, want_message):
                problems.append(f"offer {offer.id} ({offer.status}, {offer.offer_type}): codes/points/messages "
                                f"{got}, expected {(want_code, want_points, want_message)}")
        result.sent_offers = sum(o.status == "sent" for o in offers)
        # Points moved by exactly the ledger rows written during the run (none applied twice or lost).
        deltas: dict[int, int] = dict(s.execute(select(LoyaltyLedger.customer_id, func.sum(LoyaltyLedger.delta))  # type: ignore[call-overload]
                                .where(col(LoyaltyLedger.id) > started_ledger_id)
                                .group_by(LoyaltyLedger.customer_id)).all())
        for cid, points in points_by_customer(database_url).items():
            moved = points - points_before.get(cid, 0)
            if moved != int(deltas.get(cid, 0)):
                problems.append(f"customer {cid}: points moved {moved}, ledger says {deltas.get(cid, 0)}")
        # Nothing half-written: each recorded sale has its lines.
        txns = list(s.execute(select(PosTransaction.id).where(  # type: ignore[call-overload]
            col(PosTransaction.source_event_id).in_(event_ids))).scalars())
        with_lines = set(s.execute(select(TransactionLine.transaction_id).where(  # type: ignore[call-overload]
            col(TransactionLine.transaction_id).in_(txns))).scalars())
        problems += [f"sale {t} recorded without its lines" for t in txns if t not in with_lines]
        outbound = list(s.execute(select(OutboundMessage).where(col(OutboundMessage.offer_id).in_(ids))).scalars())
        message_keys = {m.idempotency_key: m.offer_id for m in outbound}
    if provider is not None:
        received = set(provider.keys())
        # Delivered: a message ends sent, or suppressed by a send-time check (consent, length); never stuck.
        problems += [f"offer {m.offer_id}: message {m.status}" for m in outbound
                     if m.status not in ("sent", "suppressed")]
        problems += [f"offer {m.offer_id}: sent message never reached the provider" for m in outbound
                     if m.status == "sent" and m.idempotency_key not in received]
        delivered = [k for k in provider.keys() if k in message_keys]
        result.deliveries = len(delivered)
        per_offer: dict[str | None, set[str]] = defaultdict(set)
        for key in delivered:
            per_offer[message_keys[key]].add(key)
        problems += [f"offer {o}: {len(k)} different messages delivered" for o, k in per_offer.items() if len(k) > 1]
    return result


def max_ledger_id(database_url: str) -> int:
    with Session(get_engine(database_url)) as s:
        return int(s.execute(select(func.coalesce(func.max(LoyaltyLedger.id), 0))).scalar_one())


def wait_done(serve: LiveServe, event_ids: list[str], *, timeout: float) -> None:
    """Until no event of the run is queued or processing (failed ones are reported by the audit)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with Session(get_engine(serve.dep.database_url)) as s:
                open_ = s.execute(select(func.count()).where(
                    col(InboxEvent.id).in_(event_ids), col(InboxEvent.status).in_(("queued", "processing")))
                ).scalar_one()
        except OperationalError:  # this poller's own connection was terminated too
            open_ = -1
        if open_ == 0:
            return
        time.sleep(0.3)
    raise TimeoutError(f"events still open after {timeout}s\n{serve.log()[-3000:]}")


def wait_delivered(database_url: str, event_ids: list[str], *, timeout: float) -> None:
    """Until no message of the run's offers is still scheduled or sending (the audit then names any left)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Session(get_engine(database_url)) as s:
            pending = s.execute(select(func.count()).select_from(OutboundMessage).join(
                Offer, col(Offer.id) == col(OutboundMessage.offer_id)).where(
                col(Offer.event_id).in_(event_ids), col(OutboundMessage.status).in_(("scheduled", "sending")))
            ).scalar_one()
        if pending == 0:
            return
        time.sleep(0.3)


def processing_now(database_url: str) -> int:
    with Session(get_engine(database_url)) as s:
        return int(s.execute(select(func.count()).where(col(InboxEvent.status) == "processing")).scalar_one())


def kill_workers_while_deciding(serve: LiveServe, *, kills: int, rng: random.Random,
                                log: Callable[[str], None] = lambda _m: None, timeout: float = 600) -> int:
    """SIGKILL a worker process at a random moment while it holds an event, `kills` times (waiting for the
    supervisor's restart each time). Returns how many kills landed."""
    landed = 0
    deadline = time.monotonic() + timeout
    while landed < kills and time.monotonic() < deadline:
        if processing_now(serve.dep.database_url) == 0:
            time.sleep(0.05)
            continue
        time.sleep(rng.uniform(0.0, 0.4))  # somewhere inside a decision (or between two)
        pids = serve.worker_pids()
        if not pids:
            time.sleep(0.2)
            continue
        victim = rng.choice(pids)
        serve_pid = serve.pid
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            continue
        landed += 1
        log(f"kill {landed}: worker {victim} of serve {serve_pid}")
        while alive(victim):
            time.sleep(0.05)
    return landed


@contextmanager
def terminating_backends(database_url: str, *, every_s: float, rng: random.Random,
                         log: Callable[[str], None] = lambda _m: None) -> Iterator[list[int]]:
    """While inside: every ~`every_s` s, pg_terminate_backend every other connection to the database
    (the API's, the workers', the checkpointer's). Yields the list of how many were killed each time."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    stop = threading.Event()
    killed: list[int] = []

    def loop() -> None:
        while not stop.wait(rng.uniform(0.5, 1.5) * every_s):
            with admin.connect() as conn:
                n = conn.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": url.database}).scalar_one()
            killed.append(int(n))
            log(f"terminated {n} backends")

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield killed
    finally:
        stop.set()
        thread.join(timeout=10)
        admin.dispose()




@dataclass
class FaultRun:
    audit: Audit
    faults: int  # kills landed, or backends terminated
    seconds: float  # from the first faulty-phase sale to every event done


def run_fault_scenario(root: Path, *, database_url: str | None, workers: int, events: int, fault: str,
                       kills: int = 2, seed: int = 3, customers: int = 60,
                       log: Callable[[str], None] = lambda _m: None) -> FaultRun:
    """Seed, serve, send `events` sales, inject `fault` ("kill": SIGKILL worker processes `kills` times
    mid-decision; "pg": pg_terminate_backend every ~1 s until done), wait, audit."""
    from tests.integration.live_serve import sales_for, seeded_deployment

    dep = seeded_deployment(root / "data", database_url=database_url, customers=customers)
    provider = RecordingProvider()
    rng = random.Random(seed)
    sales = sales_for(dep, count=events, seed=seed)
    points_before, ledger_start = points_by_customer(dep.database_url), max_ledger_id(dep.database_url)
    try:
        with LiveServe(dep, workers=workers, env=fault_env(dep, provider)) as serve:
            serve.wait_ready(workers=workers)
            warm = [serve.post_sale(s) for s in sales[:workers]]
            serve.wait_terminal(warm)  # models loaded: the faults land on decisions, not on start-up
            started = time.monotonic()
            ids = warm + [serve.post_sale(s) for s in sales[workers:]]
            if fault == "kill":
                faults = kill_workers_while_deciding(serve, kills=kills, rng=rng, log=log,
                                                     timeout=120 + 60 * kills)
                wait_done(serve, ids, timeout=300 + 2 * events)
            else:
                with terminating_backends(dep.database_url, every_s=1.0, rng=rng, log=log) as killed:
                    wait_done(serve, ids, timeout=300 + 2 * events)  # connections die until every event is done
                faults = sum(killed)
            seconds = time.monotonic() - started
            wait_delivered(dep.database_url, ids, timeout=120)  # the sender delivers what was scheduled
            result = audit_effects(dep.database_url, ids, points_before=points_before, provider=provider,
                                   started_ledger_id=ledger_start)
    finally:
        provider.close()
    return FaultRun(result, faults, seconds)
