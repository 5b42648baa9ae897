"""The product as a user starts it: `loyalty-agent serve` (or `worker`) in a subprocess, with its worker
processes, against a seeded DATA_DIR or a PostgreSQL database. Shared by the process tests, the fault
tests and benchmarks/load.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Self

import httpx

from api.signatures import sign_pos
from core.settings import Settings
from db.crud import create_api_key
from db.engine import get_engine, migrate, session_scope

POS_SECRET = "whsec_live_serve"
PSEUDONYM_SECRET = "ps_live_serve"


@dataclass
class Deployment:
    """A seeded data directory (and database) with API keys, ready to be served."""

    data_dir: Path
    database_url: str
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return Settings(data_dir=self.data_dir, database_url=self.database_url, pos_webhook_secret=POS_SECRET,
                        pseudonym_secret=PSEUDONYM_SECRET)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "QDRANT_URL", "VECTOR_SERVICE")}
        env.update(DATA_DIR=str(self.data_dir), DATABASE_URL=self.database_url, POS_WEBHOOK_SECRET=POS_SECRET,
                   PSEUDONYM_SECRET=PSEUDONYM_SECRET, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                   WORKER_POLL_INTERVAL_S="0.05", WORKER_BACKOFF_BASE_S="0.2", WORKER_LEASE_S="10")
        env.update(extra)
        return env


def seeded_deployment(data_dir: Path, *, database_url: str | None = None, customers: int = 60, months: int = 6,
                      seed: int = 7) -> Deployment:
    from sandbox.seed import seed_database

    data_dir.mkdir(parents=True, exist_ok=True)
    dep = Deployment(data_dir=data_dir, database_url=database_url or f"sqlite:///{data_dir / 'loyalty.db'}")
    migrate(dep.database_url)
    engine = get_engine(dep.database_url)
    seed_database(engine, customers=customers, months=months, seed=seed)
    with session_scope(engine) as session:
        for role in ("manager", "marketer", "associate"):
            dep.keys[role] = create_api_key(session, role=role, name=f"live-{role}")[1]
    return dep


def index_deployment(dep: Deployment, env: dict[str, str] | None = None) -> float:
    """Build the deployment's profiles and vectors with `loyalty-agent reindex` before it is served, as a
    deployment in steady state has them (`serve` would otherwise build them in the background on start,
    a one-off burst of embedding that a load measurement must not mistake for the cost of decisions).
    Returns the seconds it took."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "loyalty_agent", "reindex"], env=env or dep.env(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - started


def signed_sale(sale: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(sale, separators=(",", ":")).encode()
    return body, {"content-type": "application/json", "x-signature": sign_pos(POS_SECRET, body)}


def sales_for(dep: Deployment, *, count: int, seed: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """Sandbox sales of seeded regulars (no new guests), live timestamps."""
    from sandbox.replay import sample_sales

    sales = sample_sales(get_engine(dep.database_url), count=count * 2, seed=seed, now=now,
                         new_customer_share=0.0)
    return [s for s in sales if s["data"].get("customer_id")][:count]


def children_of(pid: int) -> list[int]:
    """Direct child processes (Linux /proc)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        out.extend(int(c) for c in children)
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


class LiveProcess:
    """`loyalty-agent <args>` in a subprocess, output to a log file; stopped with SIGTERM."""

    def __init__(self, dep: Deployment, args: list[str], *, env: dict[str, str] | None = None,
                 log_name: str = "serve.log") -> None:
        self.dep = dep
        self.log_path = dep.data_dir.parent / log_name
        self._log: IO[bytes] = open(self.log_path, "ab")  # closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-m", "loyalty_agent", *args], env=env or dep.env(),
                                     stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=dep.data_dir.parent)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        return [p for p in children_of(self.pid) if alive(p)]

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LiveServe(LiveProcess):
    """`loyalty-agent serve` on a free loopback port, with its supervised worker processes."""

    def __init__(self, dep: Deployment, *, workers: int = 1, env: dict[str, str] | None = None,
                 port: int | None = None) -> None:
        from tests.integration.conftest import free_port

        self.port = port or free_port()
        super().__init__(dep, ["serve", "--port", str(self.port), "--workers", str(workers)], env=env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, *, timeout: float = 90.0, workers: int = 1) -> LiveServe:
        """Until the API answers and `workers` worker processes run."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200 and \
                        len(self.worker_pids()) >= workers:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"serve not ready in {timeout}s:\n{self.log()[-4000:]}")

    def post_sale(self, sale: dict[str, Any], client: httpx.Client | None = None) -> str:
        """Send one signed sale; its event id (202 queued)."""
        body, headers = signed_sale(sale)
        r = (client or httpx).post(self.url + "/webhooks/pos", content=body, headers=headers, timeout=30)
        assert r.status_code == 202, r.text
        return str(r.json()["event_id"])

    def event(self, event_id: str) -> dict[str, Any]:
        r = httpx.get(f"{self.url}/events/{event_id}", timeout=10,
                      headers={"authorization": f"Bearer {self.dep.keys['manager']}"})
        r.raise_for_status()
        return dict(r.json())

    def wait_terminal(self, event_ids: list[str], *, timeout: float = 120.0) -> dict[str, dict[str, Any]]:
        """Poll until every event is done or failed; their last views."""
        deadline = time.monotonic() + timeout
        views: dict[str, dict[str, Any]] = {}
        pending = list(event_ids)
        while pending and time.monotonic() < deadline:
            for eid in list(pending):
                views[eid] = self.event(eid)
                if views[eid]["status"] in ("done", "failed"):
                    pending.remove(eid)
            if pending:
                time.sleep(0.2)
        if pending:
            raise TimeoutError(f"{len(pending)} events not terminal after {timeout}s: {views[pending[0]]}\n"
                               f"{self.log()[-3000:]}")
        return views
