"""Ack latency of POST /webhooks/pos vs a bare FastAPI endpoint, side by side in one run.

Both servers run as separate uvicorn processes on loopback; one load generator sends signed
`sale.completed` events (unique ids, so every request is a real inbox insert) with N concurrent
clients, alternating rounds between the two servers so machine noise hits both alike.

    python -m benchmarks.webhook_ack [--requests 2000] [--concurrency 16] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

SECRET = "bench-secret"


def bare_app() -> object:
    app = FastAPI()

    @app.post("/webhooks/pos")
    async def ack(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"event_id": "x", "status": "queued"}, status_code=202)

    return app


def ours_app(database_url: str, data_dir: str) -> object:
    from api.main import create_app
    from core.settings import Settings
    from db.engine import get_engine, session_scope
    from db.tables import Location, Merchant

    settings = Settings(database_url=database_url, data_dir=Path(data_dir), pos_webhook_secret=SECRET)
    app = create_app(settings)
    with session_scope(get_engine(database_url)) as s:
        if s.get(Merchant, "m_sandbox") is None:
            s.add(Merchant(id="m_sandbox", name="Bench"))
            s.flush()
            s.add(Location(id="loc_1", merchant_id="m_sandbox", name="Main"))
    return app


def serve(kind: str, port: int, database_url: str, data_dir: str) -> None:
    import uvicorn

    app = bare_app() if kind == "bare" else ours_app(database_url, data_dir)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.post(url + "/webhooks/pos", content=b"{}", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not start")


def body(i: int, run: str) -> bytes:
    return json.dumps({
        "event": "sale.completed", "event_id": f"evt_{run}_{i}", "created_at": "2026-01-15T14:30:00Z",
        "data": {"id": f"txn_{run}_{i}", "location_id": "loc_1", "customer_id": f"cust_{i % 500}",
                 "line_items": [{"sku": "SALMON-ENTREE", "name": "Grilled Salmon", "quantity": 1, "price": 24.0}],
                 "total_money": {"amount": 2400, "currency": "USD"}},
    }).encode()


def run_round(url: str, start: int, n: int, concurrency: int, run: str) -> tuple[list[float], int]:
    from api.signatures import sign_pos

    clients = [httpx.Client(base_url=url, timeout=30) for _ in range(concurrency)]
    errors = 0

    def one(i: int) -> float:
        nonlocal errors
        b = body(i, run)
        headers = {"content-type": "application/json", "x-signature": sign_pos(SECRET, b)}
        t0 = time.perf_counter()
        r = clients[i % concurrency].post("/webhooks/pos", content=b, headers=headers)
        dt = time.perf_counter() - t0
        if r.status_code != 202:
            errors += 1
        return dt

    with ThreadPoolExecutor(concurrency) as pool:
        lat = list(pool.map(one, range(start, start + n)))
    for c in clients:
        c.close()
    return lat, errors


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requests", type=int, default=2000, help="per server")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--database-url", default="")
    p.add_argument("--serve", choices=["bare", "ours"], help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.database_url, args.data_dir)
        return

    tmp = tempfile.mkdtemp(prefix="ackbench-")
    db_url = args.database_url or f"sqlite:///{tmp}/bench.db"
    ports = {"bare": free_port(), "ours": free_port()}
    procs = {k: subprocess.Popen([sys.executable, "-m", "benchmarks.webhook_ack", "--serve", k, "--port", str(port),
                                  "--database-url", db_url, "--data-dir", tmp], env=os.environ.copy())
             for k, port in ports.items()}
    try:
        for port in ports.values():
            wait_up(f"http://127.0.0.1:{port}")
        run = str(int(time.time()))
        lat: dict[str, list[float]] = {"bare": [], "ours": []}
        errs = {"bare": 0, "ours": 0}
        per_round = args.requests // args.rounds
        # Warm-up, then alternate rounds.
        for k, port in ports.items():
            run_round(f"http://127.0.0.1:{port}", 10_000_000, 50, args.concurrency, run + "w" + k)
        for r in range(args.rounds):
            for k in (("bare", "ours") if r % 2 == 0 else ("ours", "bare")):
                got, e = run_round(f"http://127.0.0.1:{ports[k]}", r * per_round, per_round, args.concurrency, run + k)
                lat[k] += got
                errs[k] += e
        stats = {k: {"p50_ms": float(np.percentile(v, 50) * 1000), "p99_ms": float(np.percentile(v, 99) * 1000),
                     "n": len(v), "non_202": errs[k]} for k, v in lat.items()}
        backend = "postgresql" if db_url.startswith("postgresql") else "sqlite"
        print(f"POST /webhooks/pos ack latency, {args.concurrency} concurrent clients, {backend} inbox")
        print(f"{'endpoint':<22}{'n':>7}{'p50 ms':>10}{'p99 ms':>10}{'non-202':>9}")
        for k, label in (("bare", "bare FastAPI"), ("ours", "loyalty-agent")):
            s = stats[k]
            print(f"{label:<22}{s['n']:>7}{s['p50_ms']:>10.2f}{s['p99_ms']:>10.2f}{s['non_202']:>9}")
        print(f"ratio p50 {stats['ours']['p50_ms'] / stats['bare']['p50_ms']:.2f}x, "
              f"p99 {stats['ours']['p99_ms'] / stats['bare']['p99_ms']:.2f}x  (goal: p99 < 50 ms and <= 3x bare)")
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
