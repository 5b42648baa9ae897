"""Ack latency of POST /webhooks/pos vs a bare FastAPI endpoint, side by side in one run.

Ours is the product as deployed: `loyalty-agent serve` with its supervised worker process on a seeded
sandbox, so every acknowledged sale (a live sale of a seeded regular) is also decided while the
load runs. The bare endpoint is a uvicorn process of its own. One closed-loop generator with N
concurrent clients alternates rounds between the two so machine noise hits both alike.
(`benchmarks.load` does the same open-loop at rising rates.)

    python -m benchmarks.webhook_ack [--requests 2000] [--concurrency 16] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
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


def bare_app() -> object:
    app = FastAPI()

    @app.post("/webhooks/pos")
    async def ack(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"event_id": "x", "status": "queued"}, status_code=202)

    return app


def serve_bare(port: int) -> None:
    import uvicorn

    uvicorn.run(bare_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)  # type: ignore[arg-type]


def wait_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.post(url + "/webhooks/pos", content=b"{}", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not start")


def run_round(url: str, requests: list[tuple[bytes, dict[str, str]]], concurrency: int) -> tuple[list[float], int]:
    clients = [httpx.Client(base_url=url, timeout=30) for _ in range(concurrency)]
    errors = 0

    def one(i: int) -> float:
        nonlocal errors
        content, headers = requests[i]
        t0 = time.perf_counter()
        r = clients[i % concurrency].post("/webhooks/pos", content=content, headers=headers)
        dt = time.perf_counter() - t0
        if r.status_code != 202:
            errors += 1
        return dt

    with ThreadPoolExecutor(concurrency) as pool:
        lat = list(pool.map(one, range(len(requests))))
    for c in clients:
        c.close()
    return lat, errors


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requests", type=int, default=2000, help="per server")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--customers", type=int, default=300, help="seeded sandbox guests")
    p.add_argument("--database-url", default="", help="default: SQLite in a temporary DATA_DIR")
    p.add_argument("--serve", choices=["bare"], help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve_bare(args.port)
        return

    from tests.integration.conftest import free_port
    from tests.integration.live_serve import LiveServe, index_deployment, sales_for, seeded_deployment, signed_sale

    dep = seeded_deployment(Path(tempfile.mkdtemp(prefix="ackbench-")) / "data",
                            database_url=args.database_url or None, customers=args.customers)
    index_deployment(dep)  # steady state: serve finds its vectors built and does not index on start
    per_round = args.requests // args.rounds
    warm_up = 20
    sales = [signed_sale(s) for s in sales_for(dep, count=per_round * args.rounds + warm_up, seed=int(time.time()))]
    if len(sales) < per_round * args.rounds + warm_up:
        raise SystemExit(f"only {len(sales)} distinct sales from {args.customers} guests: raise --customers")
    bare_port = free_port()
    bare = subprocess.Popen([sys.executable, "-m", "benchmarks.webhook_ack", "--serve", "bare", "--port",
                             str(bare_port)], env=os.environ.copy())
    ours = LiveServe(dep, workers=1, env=dep.env())
    try:
        ours.wait_ready(timeout=180)
        urls = {"bare": f"http://127.0.0.1:{bare_port}", "ours": ours.url}
        wait_up(urls["bare"])
        lat: dict[str, list[float]] = {"bare": [], "ours": []}
        errs = {"bare": 0, "ours": 0}
        # Warm-up (the worker loads its models on its first decisions), then alternate rounds. Both servers
        # get the same bodies; the bare one only reads them.
        for k in urls:
            run_round(urls[k], sales[:warm_up], args.concurrency)
        for r in range(args.rounds):
            batch = sales[warm_up + r * per_round: warm_up + (r + 1) * per_round]
            for k in (("bare", "ours") if r % 2 == 0 else ("ours", "bare")):
                got, e = run_round(urls[k], batch, args.concurrency)
                lat[k] += got
                errs[k] += e
        stats = {k: {"p50_ms": float(np.percentile(v, 50) * 1000), "p99_ms": float(np.percentile(v, 99) * 1000),
                     "n": len(v), "non_202": errs[k]} for k, v in lat.items()}
        backend = "postgresql" if dep.database_url.startswith("postgresql") else "sqlite"
        print(f"POST /webhooks/pos ack latency, {args.concurrency} concurrent clients, `serve` with 1 worker "
              f"process on a {backend} sandbox of {args.customers} guests (load avg {os.getloadavg()[0]:.1f})")
        print(f"{'endpoint':<22}{'n':>7}{'p50 ms':>10}{'p99 ms':>10}{'non-202':>9}")
        for k, label in (("bare", "bare FastAPI"), ("ours", "loyalty-agent serve")):
            st = stats[k]
            print(f"{label:<22}{st['n']:>7}{st['p50_ms']:>10.2f}{st['p99_ms']:>10.2f}{st['non_202']:>9}")
        print(f"ratio p50 {stats['ours']['p50_ms'] / stats['bare']['p50_ms']:.2f}x, "
              f"p99 {stats['ours']['p99_ms'] / stats['bare']['p99_ms']:.2f}x  (goal: p99 <= 3x bare)")
    finally:
        ours.stop()
        bare.terminate()
        bare.wait(timeout=10)


if __name__ == "__main__":
    main()
