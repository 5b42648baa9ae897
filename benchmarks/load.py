"""Load on the real product: webhook ack latency while the decision workers are saturated.

What runs: `loyalty-agent serve` exactly as `make run` starts it (API process + supervised worker
process(es), the embedded Qdrant engine owned by worker slot 0), against a seeded sandbox; next to it,
in the same run, a bare FastAPI endpoint (benchmarks.webhook_ack's) in its own uvicorn process. A
bounded open-loop generator on loopback sends signed `sale.completed` events for seeded regulars, every
one a real decision, at rising rates; at each rate it alternates requests between the two servers so
both meet the same machine (the workers burning CPU) at the same moments.

Every step sends at least `--min-requests` to each server (a step at a slow rate lasts longer), so its p99 is
not decided by one request. Reported per rate: sent, ack p50/p99 of ours and of bare, the p99 ratio (goal <=
3x), the backlog (queue depth) at the end of the step and the decisions finished during it; then sustained
decisions/s and how long the backlog took to drain after sending stopped, and the CPU the deployment spent per
decision (API process, worker processes and, on PostgreSQL, the server's backends for the throwaway database,
read from /proc over the whole run): the cores divided by it is the ceiling on decisions/s that no tuning of
concurrency can pass. Run on the embedded default (SQLite, one worker process) and on PostgreSQL with N worker
processes (BENCH_DATABASE_URL or TEST_DATABASE_URL, a throwaway database is created and dropped).

    python -m benchmarks.load [--rates 5,10,20,40] [--step-s 15] [--min-requests 300] [--customers 400]
                              [--pg-workers 2] [--backend sqlite|postgres|both] [--embeddings local|endpoint]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

MAX_REQUESTS = 6000  # hard bound on what one run sends, whatever the arguments
DRAIN_TIMEOUT_S = 900.0


@dataclass
class Step:
    rate: float
    sent: int
    ours: list[float]
    bare: list[float]
    errors: int
    backlog: int
    decided: int
    seconds: float


def cpu_s(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each live process in `pids` (/proc/<pid>/stat)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited
        out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out


def postgres_backends(database: str) -> list[int]:
    """Server processes serving `database` (their title names it: 'postgres: user db host(port) state')."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if title.startswith("postgres: ") and f" {database} " in title:
                pids.append(int(proc.name))
    return pids


class CpuMeter:
    """CPU spent by the deployment from the first `sample` on, by part. Processes are re-listed at each
    sample (PostgreSQL opens backends as pools grow): one first seen later started after the first sample
    and counts from zero; one that exits between samples loses its last share, so the figure is a lower
    bound."""

    def __init__(self, parts: dict[str, Any]) -> None:
        self.parts = parts  # name -> callable returning the pids of that part
        self.first: dict[str, dict[int, float]] = {}
        self.last: dict[str, dict[int, float]] = {}

    def sample(self) -> None:
        started = bool(self.first)  # decided once per sample, not per part
        for name, pids_of in self.parts.items():
            now = cpu_s(pids_of())
            first = self.first.setdefault(name, {})
            for pid, value in now.items():
                first.setdefault(pid, value if not started else 0.0)
            self.last[name] = {**self.last.get(name, {}), **now}

    def spent(self) -> dict[str, float]:
        return {name: sum(v - self.first[name].get(pid, 0.0) for pid, v in self.last[name].items())
                for name in self.parts}


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def queue(url: str) -> dict[str, Any]:
    return dict(httpx.get(url + "/healthz", timeout=30).json()["workers"])


def done_count(database_url: str) -> int:
    from sqlalchemy import func, select
    from sqlmodel import Session, col

    from db.engine import get_engine
    from db.tables import InboxEvent

    with Session(get_engine(database_url)) as session:
        return int(session.execute(select(func.count()).where(col(InboxEvent.status).in_(("done", "failed"))))
                   .scalar_one())


async def run_step(ours_url: str, bare_url: str, bodies: list[bytes], rate: float, seconds: float) -> Step:
    """Open loop: request i leaves at t0 + i/rate whatever the answers; ours and bare alternate."""
    from api.signatures import sign_pos
    from tests.integration.live_serve import POS_SECRET

    n = min(len(bodies), int(rate * seconds))
    lat: dict[str, list[float]] = {"ours": [], "bare": []}
    errors = 0
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def one(url: str, kind: str, body: bytes) -> None:
            nonlocal errors
            headers = {"content-type": "application/json", "x-signature": sign_pos(POS_SECRET, body)}
            t = time.perf_counter()
            try:
                r = await client.post(url + "/webhooks/pos", content=body, headers=headers)
                ok = r.status_code == 202
            except httpx.HTTPError:
                ok = False
            lat[kind].append(time.perf_counter() - t)
            errors += not ok

        tasks = []
        t0 = time.perf_counter()
        for i in range(n):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            first, second = (("ours", ours_url), ("bare", bare_url)) if i % 2 == 0 else \
                (("bare", bare_url), ("ours", ours_url))
            for kind, url in (first, second):
                tasks.append(asyncio.create_task(one(url, kind, bodies[i] if kind == "ours" else
                                                     bodies[i].replace(b'"evt_', b'"bare_'))))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
    return Step(rate=rate, sent=n, ours=lat["ours"], bare=lat["bare"], errors=errors, backlog=0, decided=0,
                seconds=elapsed)


def pg_database(base: str) -> tuple[str, Any]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"la_load_{secrets.token_hex(4)}"
    admin = create_engine(make_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(base).set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rates", default="5,10,20,40", help="requests/s per server, in order")
    p.add_argument("--step-s", type=float, default=15.0, help="shortest step; a slow rate's step is longer")
    p.add_argument("--min-requests", type=int, default=300,
                   help="requests per server at least in every step: the p99 of 75 requests (5/s for 15 s) is "
                        "the slowest but one, so a single stall decided the ratio")
    p.add_argument("--customers", type=int, default=400)
    p.add_argument("--pg-workers", type=int, default=2)
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--embeddings", choices=["local", "endpoint"], default="local",
                   help="local: the bundled model in the worker (the default deployment); endpoint: "
                        "EMBEDDING_PROVIDER=openai against a stand-in endpoint on loopback "
                        "(benchmarks.embedding_endpoint), its CPU metered apart as off the machine")
    args = p.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    if sum(step_requests(r, args) for r in rates) > MAX_REQUESTS:
        p.error(f"rates x step would send more than {MAX_REQUESTS} sales per server; lower them")
    print(f"machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    if args.backend in ("sqlite", "both"):
        bench("embedded default (SQLite, 1 worker process)", None, workers=1, rates=rates, args=args)
    pg = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if args.backend in ("postgres", "both"):
        if not pg:
            print("\nPostgreSQL: skipped (set BENCH_DATABASE_URL or TEST_DATABASE_URL)")
            return
        url, drop = pg_database(pg)
        try:
            bench(f"PostgreSQL, {args.pg_workers} worker processes", url, workers=args.pg_workers, rates=rates,
                  args=args)
        finally:
            drop()


OFF_MACHINE = "embedding endpoint (stand-in, off the machine in production)"


def embedding_endpoint(kind: str) -> tuple[subprocess.Popen[bytes] | None, dict[str, str]]:
    """For `--embeddings endpoint`: the stand-in endpoint's process and the deployment's settings for it."""
    if kind == "local":
        return None, {}
    from tests.integration.conftest import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.embedding_endpoint", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.post(url + "/embeddings", json={"model": "m", "input": ["up"]}, timeout=1).raise_for_status()
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                proc.terminate()
                raise
            time.sleep(0.2)
    return proc, {"EMBEDDING_PROVIDER": "openai", "EMBEDDING_BASE_URL": url, "EMBEDDING_API_KEY": "unused",
                  "EMBEDDING_DIM": "384", "EMBEDDING_MODEL": "stand-in"}


def step_requests(rate: float, args: argparse.Namespace) -> int:
    """Requests per server in the step at `rate`: `--step-s` seconds, longer where that is too few."""
    return max(int(rate * args.step_s), args.min_requests)


def bench(label: str, database_url: str | None, *, workers: int, rates: list[float],
          args: argparse.Namespace) -> None:
    from tests.integration.conftest import free_port
    from tests.integration.live_serve import LiveServe, index_deployment, sales_for, seeded_deployment

    root = Path(tempfile.mkdtemp(prefix="loadbench-"))
    endpoint, embedding_env = embedding_endpoint(args.embeddings)
    t = time.perf_counter()
    dep = seeded_deployment(root / "data", database_url=database_url, customers=args.customers, months=12)
    total = sum(step_requests(r, args) for r in rates)
    sales = sales_for(dep, count=total + 20, seed=int(time.time()) % 100_000)
    bodies = [json.dumps(s, separators=(",", ":")).encode() for s in sales]
    seeded_s = time.perf_counter() - t
    indexed_s = index_deployment(dep, dep.env(**embedding_env))
    print(f"\n== {label}, {args.embeddings} embeddings: seeded {args.customers} guests in {seeded_s:.1f}s, "
          f"vectors built before serving (steady state) in {indexed_s:.1f}s; {len(bodies)} sales ready")
    bare_port = free_port()
    bare = subprocess.Popen([sys.executable, "-m", "benchmarks.webhook_ack", "--serve", "bare", "--port",
                             str(bare_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    serve = LiveServe(dep, workers=workers, env=dep.env(INDEX_ON_START="true", WORKER_POLL_INTERVAL_S="0.2",
                                                         **embedding_env))
    try:
        serve.wait_ready(timeout=180, workers=workers)
        bare_url = f"http://127.0.0.1:{bare_port}"
        # Warm-up: one decision end to end (models loaded in the worker), then the bare endpoint.
        warm = [serve.post_sale(sales[-1 - i]) for i in range(min(workers, 20))]
        serve.wait_terminal(warm, timeout=300)
        for _ in range(20):
            httpx.post(bare_url + "/webhooks/pos", content=b"{}", timeout=10)
        steps: list[Step] = []
        offset = 0
        parts: dict[str, Any] = {"API process": lambda: [serve.pid], "worker processes": serve.worker_pids}
        if database_url:
            from sqlalchemy.engine import make_url

            parts["PostgreSQL backends"] = lambda: postgres_backends(str(make_url(dep.database_url).database))
        if endpoint is not None:
            parts[OFF_MACHINE] = lambda: [endpoint.pid]
        meter = CpuMeter(parts)
        meter.sample()
        run_started = time.perf_counter()
        done_before = done_count(dep.database_url)
        for rate in rates:
            n = step_requests(rate, args)
            before = done_count(dep.database_url)
            step = asyncio.run(run_step(serve.url, bare_url, bodies[offset: offset + n], rate, n / rate))
            offset += n
            step.backlog = int(queue(serve.url)["queue_depth"])
            step.decided = done_count(dep.database_url) - before
            steps.append(step)
            meter.sample()
        sent_done = time.perf_counter()
        drain_deadline = sent_done + DRAIN_TIMEOUT_S
        while queue(serve.url)["queue_depth"] > 0 and time.perf_counter() < drain_deadline:
            meter.sample()
            time.sleep(0.5)
        drained = time.perf_counter()
        meter.sample()
        final = queue(serve.url)
        decided = done_count(dep.database_url) - done_before
        report(label, steps, decided=decided, busy_s=drained - run_started, drain_s=drained - sent_done,
               final=final)
        report_cpu(meter.spent(), decided=decided, sales=offset)
    finally:
        serve.stop()
        for helper in (bare, endpoint):
            if helper is not None:
                helper.terminate()
                helper.wait(timeout=10)


def report(label: str, steps: list[Step], *, decided: int, busy_s: float, drain_s: float,
           final: dict[str, Any]) -> None:
    print(f"{'rate/s':>7}{'sent':>6}{'ours p50':>10}{'ours p99':>10}{'bare p50':>10}{'bare p99':>10}"
          f"{'p99 x':>7}{'non-202':>8}{'dec/s':>7}{'backlog':>8}")
    for s in steps:
        ratio = pct(s.ours, 99) / pct(s.bare, 99)
        print(f"{s.rate:>7.0f}{s.sent:>6}{pct(s.ours, 50):>10.1f}{pct(s.ours, 99):>10.1f}{pct(s.bare, 50):>10.1f}"
              f"{pct(s.bare, 99):>10.1f}{ratio:>7.2f}{s.errors:>8}{s.decided / s.seconds:>7.1f}{s.backlog:>8}")
    worst = max(pct(s.ours, 99) / pct(s.bare, 99) for s in steps)
    print(f"ack p99 ratio, worst step: {worst:.2f}x bare (goal <= 3x); "
          f"sustained decisions: {decided} in {busy_s:.1f}s = {decided / busy_s:.1f}/s; "
          f"backlog drained {drain_s:.1f}s after the last request"
          + ("" if final["queue_depth"] == 0 else f" (NOT drained: {final['queue_depth']} left)")
          + f"; failed events: {final['failed']}; load average {os.getloadavg()[0]:.1f}")


def report_cpu(spent: dict[str, float], *, decided: int, sales: int) -> None:
    """CPU per decision by part, and the decisions/s ceiling it implies on this machine's cores."""
    cores = len(os.sched_getaffinity(0))
    total = sum(value for name, value in spent.items() if name != OFF_MACHINE)
    per = total / max(1, decided)
    parts = ", ".join(f"{name} {1000 * value / max(1, decided):.1f} ms" for name, value in spent.items())
    print(f"CPU per decision on this machine (acks of {sales} sales included): {1000 * per:.1f} ms ({parts}); "
          f"ceiling on {cores} cores: {cores / per if per else float('inf'):.1f} decisions/s")


if __name__ == "__main__":
    main()
