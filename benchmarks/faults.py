"""The fault tests at full length (tests/integration/test_faults.py runs them short in CI).

Against the real `serve` with its worker processes and a recording messaging provider on loopback:
- kill: 200 signed sales, worker processes SIGKILLed at random moments while they decide, again and
  again (SQLite embedded default, and PostgreSQL with 2 worker processes when one is reachable);
- pg: 200 sales on PostgreSQL while every connection to the database is pg_terminate_backend-ed about
  once a second until every event is done.
Then the exactly-once audit (tests/integration/fault_world.audit_effects): every event done, each sent
offer with exactly one promo code or points row and one message, points moved exactly by the ledger,
at most one message delivered per offer, nothing half-written.

    python -m benchmarks.faults [--events 200] [--kills 8] [--scenario kill|pg|all]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=200)
    p.add_argument("--kills", type=int, default=8)
    p.add_argument("--scenario", choices=["kill", "pg", "all"], default="all")
    args = p.parse_args()
    from tests.integration.fault_world import run_fault_scenario

    pg_base = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    print(f"fault runs, {args.events} events each; {os.cpu_count()} cores; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    plans: list[tuple[str, str, bool, int]] = []  # (label, fault, postgres, workers)
    if args.scenario in ("kill", "all"):
        plans.append(("SIGKILL workers, SQLite, 1 process", "kill", False, 1))
        plans.append(("SIGKILL workers, PostgreSQL, 2 processes", "kill", True, 2))
    if args.scenario in ("pg", "all"):
        plans.append(("pg_terminate_backend, PostgreSQL, 2 processes", "pg", True, 2))
    for label, fault, postgres, workers in plans:
        if postgres and not pg_base:
            print(f"- {label}: skipped (set BENCH_DATABASE_URL or TEST_DATABASE_URL)")
            continue
        drop = None
        url = None
        if postgres:
            from benchmarks.load import pg_database

            url, drop = pg_database(str(pg_base))
        try:
            run = run_fault_scenario(Path(tempfile.mkdtemp(prefix="faults-")), database_url=url, workers=workers,
                                     events=args.events, fault=fault, kills=args.kills, seed=17)
        finally:
            if drop is not None:
                drop()
        a = run.audit
        what = "kills" if fault == "kill" else "backends killed"
        verdict = "OK" if not a.problems else f"{len(a.problems)} PROBLEMS: " + "; ".join(a.problems[:5])
        print(f"- {label}: {run.faults} {what}; {a.events} events in {run.seconds:.0f}s, outcomes {a.outcomes}; "
              f"{a.sent_offers} offers sent, {a.deliveries} deliveries; exactly-once audit {verdict}", flush=True)


if __name__ == "__main__":
    main()
