"""A campaign's plan + decide alone, with a digest of everything it wrote: to profile it, and to prove an
optimisation changed no draft, verdict, recipient or audit row.

The same campaign as `benchmarks.campaigns` (win-back to every regular of the sandbox, offline drafter, SQLite),
but with a fixed campaign id and salt, so two runs on the same seeded database write the same rows; and
without execution (each decision's offer-graph thread is not started), so a run takes seconds, not minutes.
Printed: the CPU time (time.process_time) of `CampaignRunner._plan` and of the chunks' decide, and a SHA-256
over the offer rows, the recipient rows and the audit rows (timestamps and row ids left out).

    python -m benchmarks.campaigns_digest [--customers 26000] [--db seeded.db] [--profile out.prof]

`--db` copies an already seeded database (seeding 26,000 guests takes ~30 s); without it one is seeded.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import time
from pathlib import Path
from typing import Any

_VOLATILE = ("id", "created_at", "updated_at", "decided_at", "locked_until")


def _digest(engine: Any) -> tuple[str, int]:
    from sqlmodel import Session, col, select

    from db.tables import AuditEvent, CampaignRecipient, Offer

    digest = hashlib.sha256()
    rows = 0
    with Session(engine) as session:
        for table, order in ((Offer, Offer.id), (CampaignRecipient, CampaignRecipient.customer_id),
                             (AuditEvent, AuditEvent.id)):
            for row in session.exec(select(table).order_by(col(order))).all():
                values = row.model_dump(mode="json")
                # An offer's id derives from (campaign, guest): stable, and kept; other tables' ids are not.
                for name in _VOLATILE if table is not Offer else _VOLATILE[1:]:
                    values.pop(name, None)
                digest.update(json.dumps(values, sort_keys=True, default=str).encode())
                rows += 1
    return digest.hexdigest(), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=26_000, help="sandbox guests to seed (without --db)")
    parser.add_argument("--db", type=Path, help="an already seeded SQLite database to copy")
    parser.add_argument("--profile", type=Path, help="write a cProfile of plan + decide here")
    args = parser.parse_args()

    from agent.campaigns import service
    from agent.campaigns.run import CampaignRunner
    from benchmarks.campaigns import sandbox
    from db import campaigns as lifecycle

    engine, agent, spec = sandbox(args.customers, copy_of=args.db)
    lifecycle.new_campaign_id = lambda: "cmp_digest"  # one id, so offer ids and event ids repeat across runs
    created = service.create(agent.ctx, merchant_id="m_sandbox", spec=spec, created_by="bench", salt="digest")
    campaign = service.plan(agent.ctx, created.id)
    assert campaign is not None and campaign.status == lifecycle.PENDING_APPROVAL, campaign
    service.approve(agent.ctx, campaign.id, merchant_id="m_sandbox", approved_by="bench")

    cpu = {"plan": 0.0, "decide": 0.0}
    decided = [0]

    class DecideOnly(CampaignRunner):
        def _plan(self, ctx: Any, c: Any) -> Any:
            started = time.process_time()
            known = super()._plan(ctx, c)
            cpu["plan"] += time.process_time() - started
            return known

        def _decide_chunk(self, ctx: Any, c: Any, chunk: list[Any], known: Any = None) -> list[str]:
            started = time.process_time()
            outcomes = super()._decide_chunk(ctx, c, chunk, known)
            cpu["decide"] += time.process_time() - started
            decided[0] += len(chunk)
            return outcomes

        def _continue(self, ctx: Any, recipient: Any, state: dict[str, Any] | None) -> str:
            return "not executed"  # the thread is not started: its recipient stays `running`

    profile = cProfile.Profile() if args.profile else None
    if profile is not None:
        profile.enable()
    DecideOnly(agent, batch_size=500).run_due("m_sandbox", automatic=False)
    if profile is not None:
        profile.disable()
        profile.dump_stats(args.profile)
    n = max(decided[0], 1)
    print(f"{decided[0]} treatment guests: plan CPU {cpu['plan']:.1f} s, decide CPU {cpu['decide']:.1f} s "
          f"({1000 * cpu['decide'] / n:.2f} ms/guest), plan + decide CPU {cpu['plan'] + cpu['decide']:.1f} s")
    digest, rows = _digest(engine)
    print(f"digest of offers, recipients and audit rows ({rows} rows): {digest}")
    agent.close()


if __name__ == "__main__":
    main()
