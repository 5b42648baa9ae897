"""`loyalty-agent serve` on the embedded default, as a user runs it: decisions run in a supervised worker
process (not the API process), segment search and the associate Q&A reach the embedded engine that the
worker owns, a killed worker is restarted and its work completes, and SIGTERM stops everything."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
from sqlmodel import Session

from db.engine import get_engine
from db.tables import InboxEvent
from loyalty_agent.processes import WORKER_NICENESS
from tests.integration.live_serve import LiveServe, alive, sales_for, seeded_deployment


def _decided_by_pid(dep_url: str, event_id: str) -> int:
    with Session(get_engine(dep_url)) as session:
        row = session.get(InboxEvent, event_id)
        assert row is not None and row.locked_by is not None
        return int(row.locked_by.split(":")[1])  # host:pid:thread


def _segments(serve: LiveServe, marketer: str, *, timeout: float = 90) -> list[dict[str, object]]:
    """Segment search, retried while the worker that owns the index starts (503) or indexes (empty)."""
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(serve.url + "/segments/search", params={"q": "wine with dinner", "limit": 5},
                      headers={"authorization": f"Bearer {marketer}"}, timeout=30)
        assert r.status_code in (200, 503), r.text
        if r.status_code == 200 and r.json():
            return list(r.json())
        assert time.monotonic() < deadline, f"no segment hits: {r.status_code} {r.text}\n{serve.log()[-3000:]}"
        time.sleep(0.5)


def test_serve_runs_decisions_in_a_supervised_worker_process(tmp_path: Path) -> None:
    dep = seeded_deployment(tmp_path / "data", customers=60)
    sales = sales_for(dep, count=4, seed=11)
    with LiveServe(dep) as serve:
        serve.wait_ready()
        [worker] = serve.worker_pids()
        assert worker != serve.pid
        # Decision work yields the CPU to the API's acks.
        assert os.getpriority(os.PRIO_PROCESS, worker) == os.getpriority(os.PRIO_PROCESS, serve.pid) + WORKER_NICENESS

        # Decisions happen in the worker process, never in the API process.
        first = [serve.post_sale(s) for s in sales[:2]]
        views = serve.wait_terminal(first)
        assert all(v["status"] == "done" for v in views.values()), views
        assert {_decided_by_pid(dep.database_url, e) for e in first} == {worker}

        # The API process searches the engine the worker owns, and embeds through it.
        hits = _segments(serve, dep.keys["marketer"])
        assert all(str(h["customer"]).startswith("g_") for h in hits)
        guest = sales[0]["data"]["customer_id"]
        r = httpx.post(f"{serve.url}/customers/{guest}/ask", json={"question": "what do they like to drink?"},
                       headers={"authorization": f"Bearer {dep.keys['associate']}"}, timeout=60)
        assert r.status_code == 200, r.text
        assert r.json()["answer"]

        health = httpx.get(serve.url + "/healthz", timeout=10).json()
        assert health["workers"]["queue_depth"] == 0 and health["workers"]["failed"] == 0
        # Idle, not gone: the worker's heartbeat counts it alive while it holds no event.
        assert (health["workers"]["alive_workers"], health["workers"]["busy_workers"]) == (1, 0), health
        metrics = httpx.get(serve.url + "/metrics", timeout=10).text
        assert "loyalty_inbox_queue_depth 0.0" in metrics and "loyalty_decisions_per_second" in metrics
        assert "loyalty_workers_alive 1.0" in metrics and "loyalty_workers_busy 0.0" in metrics

        # A killed worker is restarted by serve; work sent meanwhile is decided by the new process.
        serve_pid_before = serve.pid
        os.kill(worker, signal.SIGKILL)
        later = [serve.post_sale(s) for s in sales[2:]]  # the ack does not need the worker
        views = serve.wait_terminal(later)
        assert all(v["status"] == "done" for v in views.values()), views
        [restarted] = serve.worker_pids()
        assert restarted != worker and not alive(worker)
        assert {_decided_by_pid(dep.database_url, e) for e in later} == {restarted}
        assert f"(pid {worker}) exited with -9" in serve.log()
        assert _segments(serve, dep.keys["marketer"])  # the new owner serves search again
        assert serve.pid == serve_pid_before and serve.proc.poll() is None

        code = serve.stop()
        # uvicorn re-raises the SIGTERM it handled once shutdown is complete
        assert code in (0, -signal.SIGTERM), serve.log()[-3000:]
        assert "worker processes stopped" in serve.log() and "Application shutdown complete" in serve.log()
        assert not alive(restarted)
