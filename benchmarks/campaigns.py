"""A campaign to 10,000 guests with the offline drafter: planning, drafting + guardrails, and execution.

A sandbox restaurant is seeded (SQLite, the embedded default) with enough guests for a win-back campaign to
reach the target audience (`churn_risk_min` 0: every regular in reach), created as `POST /campaigns` creates
it (`service.create`: validation only, status `planning`), planned as the worker plans it (`service.plan`:
audience, split, 20 sample drafts, cost; no HTTP request waits for it), approved, and run with
`CampaignRunner.run_due`, the code `loyalty-agent campaigns run-due` and the worker use. Printed:

- plan: candidates' features (one bulk load), eligibility and the holdout split, recipients written;
- decide: per chunk, the bulk reads, eligibility and fatigue re-check, draft input, offline drafter, every
  guardrail rule and the quiet-hours send time, with drafts, verdicts and audit rows written (agent.campaigns.batch);
- execute: each decision's offer-graph thread from check_guardrails on: `execute` re-checks every rule on fresh
  facts, then promo code, attach, outbox message (sandbox POS), offer sent; or the review interrupt.
The goal (< 60 s for 10,000 recipients) is for drafting, guardrails and scheduling; execution is printed
beside it.

    python -m benchmarks.campaigns [--recipients 10000] [--customers 26000] [--plan-only]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any

GOAL_S = 60.0


def sandbox(customers: int, *, copy_of: Path | None = None) -> tuple[Any, Any, Any]:
    """(engine, offer agent, campaign spec): a SQLite sandbox restaurant seeded with `customers` guests (or a copy
    of the seeded database `copy_of`) on its test clock, the agent with the offline drafter and no vectors, and the
    benchmark's campaign: win-back to every regular (`churn_risk_min` 0), 10 % holdout."""
    from agent.campaigns.spec import CampaignSpec
    from agent.runner import build_agent
    from core.settings import Settings
    from db.clock import start_test_clock
    from db.engine import make_engine, migrate, session_scope
    from sandbox.restaurant import DEFAULT_END
    from sandbox.seed import seed_database

    directory = Path(tempfile.mkdtemp(prefix="bench-campaigns-"))
    url = f"sqlite:///{directory / 'bench.db'}"
    if copy_of is not None:
        shutil.copy(copy_of, directory / "bench.db")
        engine = make_engine(url)
    else:
        migrate(url)
        engine = make_engine(url)
        started = time.perf_counter()
        seed_database(engine, customers=customers)
        print(f"seeded {customers} guests in {time.perf_counter() - started:.1f} s")
        with session_scope(engine) as session:
            start_test_clock(session, "m_sandbox", at=datetime.combine(DEFAULT_END, clock_time(15), tzinfo=UTC))
    settings = Settings(data_dir=directory, database_url=url, pseudonym_secret="bench", pos_webhook_secret="bench",
                        index_on_start=False, llm_provider="offline")
    spec = CampaignSpec.model_validate({"name": "Reactivate every regular", "kind": "win_back",
                                        "audience": {"rule": {"churn_risk_min": 0.0}}, "holdout_pct": 10})
    return engine, build_agent(settings, engine, with_vectors=False), spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=10_000, help="treatment guests to reach (at least)")
    parser.add_argument("--customers", type=int, default=26_000, help="sandbox guests to seed")
    parser.add_argument("--plan-only", action="store_true", help="stop after the worker's planning (no run)")
    args = parser.parse_args()

    from sqlmodel import Session

    from agent.campaigns import service
    from agent.campaigns.run import CampaignRunner
    from db import campaigns as lifecycle
    from db.tables import CampaignRecipient

    engine, agent, spec = sandbox(args.customers)
    started, cpu_started = time.perf_counter(), time.process_time()
    created = service.create(agent.ctx, merchant_id="m_sandbox", spec=spec, created_by="bench")
    print(f"POST /campaigns' work (validate, insert as {created.status}): "
          f"{1000 * (time.perf_counter() - started):.0f} ms (CPU {1000 * (time.process_time() - cpu_started):.0f} ms)")
    started, cpu_started = time.perf_counter(), time.process_time()
    campaign = service.plan(agent.ctx, created.id)
    assert campaign is not None and campaign.status == lifecycle.PENDING_APPROVAL, campaign
    print(f"worker's planning for approval (audience, split, 20 sample drafts): {time.perf_counter() - started:.1f} s "
          f"(CPU {time.process_time() - cpu_started:.1f} s); "
          f"treatment {campaign.estimate['treatment_size']}, holdout {campaign.estimate['holdout_size']}")
    if args.plan_only:
        agent.close()
        return
    if campaign.estimate["treatment_size"] < args.recipients:
        print(f"note: {campaign.estimate['treatment_size']} treatment guests, below --recipients {args.recipients};"
              " seed more --customers")
    service.approve(agent.ctx, campaign.id, merchant_id="m_sandbox", approved_by="bench")

    timings: dict[str, float] = {"plan": 0.0, "decide": 0.0, "execute": 0.0}
    cpu_times: dict[str, float] = {"plan": 0.0, "decide": 0.0, "execute": 0.0}  # this process's CPU: stable under load
    counts: Counter[str] = Counter()

    class TimedRunner(CampaignRunner):
        def _plan(self, ctx: Any, c: Any) -> Any:
            t, cpu = time.perf_counter(), time.process_time()
            known = super()._plan(ctx, c)
            timings["plan"] += time.perf_counter() - t
            cpu_times["plan"] += time.process_time() - cpu
            return known

        def _decide_chunk(self, ctx: Any, c: Any, chunk: list[CampaignRecipient], known: Any = None) -> list[str]:
            t, cpu = time.perf_counter(), time.process_time()
            before, cpu_before = timings["execute"], cpu_times["execute"]
            outcomes = super()._decide_chunk(ctx, c, chunk, known)
            timings["decide"] += time.perf_counter() - t - (timings["execute"] - before)
            cpu_times["decide"] += time.process_time() - cpu - (cpu_times["execute"] - cpu_before)
            counts["decided"] += len(chunk)
            return outcomes

        def _continue(self, ctx: Any, recipient: CampaignRecipient, state: dict[str, Any] | None) -> str:
            t, cpu = time.perf_counter(), time.process_time()
            outcome = super()._continue(ctx, recipient, state)
            timings["execute"] += time.perf_counter() - t
            cpu_times["execute"] += time.process_time() - cpu
            counts["executed"] += 1
            return outcome

    started, cpu_started = time.perf_counter(), time.process_time()
    summary = TimedRunner(agent, batch_size=500).run_due("m_sandbox", automatic=False)
    total = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    with Session(engine) as session:
        tally = lifecycle.campaign_counts(session, campaign.id)
    decided = counts["decided"]
    print(f"\nrun-due: {decided} treatment guests, {tally['holdout']} holdout, outcomes {dict(summary.outcomes)}")
    print(f"  plan (features, eligibility, split):           {timings['plan']:7.1f} s   "
          f"(CPU {cpu_times['plan']:.1f} s)")
    print(f"  decide (drafting, guardrails, send time):      {timings['decide']:7.1f} s   "
          f"{1000 * timings['decide'] / max(decided, 1):.2f} ms/guest   (CPU {cpu_times['decide']:.1f} s)")
    print(f"  execute ({counts['executed']} threads: re-check, POS, outbox): {timings['execute']:7.1f} s   "
          f"{1000 * timings['execute'] / max(counts['executed'], 1):.2f} ms/guest   (CPU {cpu_times['execute']:.1f} s)")
    print(f"  run-due total:                                 {total:7.1f} s   (this process's CPU: {cpu:.1f} s; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    scope = timings["plan"] + timings["decide"]
    print(f"\ndrafting, guardrails and scheduling for {decided} recipients: {scope:.1f} s "
          f"(CPU {cpu_times['plan'] + cpu_times['decide']:.1f} s) "
          f"(goal < {GOAL_S:.0f} s: {'met' if scope < GOAL_S and decided >= args.recipients else 'NOT met'}); "
          f"with execution: {total:.1f} s")
    print(f"counts: {tally}")
    agent.close()


if __name__ == "__main__":
    main()
