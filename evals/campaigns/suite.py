"""The campaign eval suite: each case a world run through the real campaign path (evals/campaigns/world.py),
judged per guest (who was contacted, skipped or held out) and per case (quiet hours, review, shared fatigue).

Categories: eligibility (triggers and their limits, before the split and at send), fatigue (across campaigns
and real-time offers, both ways), holdout (untouched, deterministic, the preview's split is the run's),
quiet_hours (deferred to the guest's morning, never dropped), review (downgrade notices wait for a manager).
Gate: every category 100 %; a case whose world fails to run fails.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

from evals.campaigns.schema import CampaignCase, load_cases
from evals.campaigns.world import CaseRun, run_case
from evals.report import CategoryRow, SuiteReport, format_table, print_categories, rate_gate
from guardrails.engine import rules_disabled
from guardrails.policy import default_policy


def judge(run: CaseRun) -> list[str]:
    """The failed checks of one case (empty: passed)."""
    case = run.case
    if run.error:
        return [f"world failed: {run.error}"]
    failed = []
    for guest in case.guests:
        results = run.guests.get(guest.name, [])
        if guest.expect is not None:
            got = sorted({r.outcome for r in results})
            if got != [guest.expect]:
                failed.append(f"{guest.name}: expected {guest.expect}, got {', '.join(got)}")
    failed += _holdout_checks(run)
    if case.quiet_hours:
        failed += _quiet_hours_checks(run)
    if case.review is not None and run.review_outcome != case.review.expect:
        failed.append(f"review by a {case.review.role}: expected {case.review.expect}, got {run.review_outcome}")
    if case.sale_after_hours is not None and run.realtime_messages:
        failed.append(f"the sale {case.sale_after_hours:g} h after the campaign messaged the guest again")
    return failed


def _holdout_checks(run: CaseRun) -> list[str]:
    results = [r for rs in run.guests.values() for r in rs]
    touched = [r.name for r in results if r.outcome == "holdout touched"]
    failed = [f"holdout guest {name} got an offer or a message" for name in touched]
    held = sum(1 for r in results if r.arm == "holdout")
    if run.case.expect_both_arms and not (held and any(r.outcome == "sent" for r in results)):
        failed.append(f"expected guests in both arms: {held} held out, "
                      f"{sum(1 for r in results if r.outcome == 'sent')} sent")
    if run.case.campaign.holdout_pct and held != run.preview.get("holdout_size"):
        failed.append(f"the run held out {held} guests, the approved plan {run.preview.get('holdout_size')}")
    return failed


def _quiet_hours_checks(run: CaseRun) -> list[str]:
    quiet = default_policy().quiet_hours
    failed = []
    zones = {g.name: g.timezone for g in run.case.guests}
    for name, results in run.guests.items():
        for result in results:
            for message in result.messages:
                at = message["scheduled_for"].astimezone(UTC)
                local = at.astimezone(ZoneInfo(zones[name])).time()
                if not (quiet.end <= local < quiet.start):
                    failed.append(f"{name}: message scheduled at {local} local, inside quiet hours")
                if at < run.case.clock:
                    failed.append(f"{name}: message scheduled before the campaign ran")
    if not any(r.messages for rs in run.guests.values() for r in rs):
        failed.append("no message was scheduled at all (nothing deferred, nothing checked)")
    return failed


def run_campaigns(categories: frozenset[str] = frozenset(), case_ids: frozenset[str] = frozenset(),
                  disabled_rules: frozenset[str] = frozenset()) -> SuiteReport:
    """Every selected case; `disabled_rules` (python -m evals --disable-rule) switches guardrail rules off inside
    the runs to prove the suite notices."""
    started = time.perf_counter()
    cases: list[CampaignCase] = [c for c in load_cases() if (not categories or c.category in categories)
                                 and (not case_ids or c.id in case_ids)]
    rows: list[dict[str, Any]] = []
    by_category: dict[str, list[bool]] = defaultdict(list)
    for case in cases:
        with rules_disabled(disabled_rules):
            run = run_case(case)
        failed = judge(run)
        by_category[case.category].append(not failed)
        rows.append({"id": case.id, "category": case.category, "failed": failed,
                     "guests": {name: [r.outcome for r in rs] for name, rs in run.guests.items()}})
    categories_rows = [CategoryRow(category=c, cases=len(ok), passed=sum(ok)) for c, ok in sorted(by_category.items())]
    gates = [rate_gate(f"{row.category}: every case", row.passed, row.cases, 1.0) for row in categories_rows]
    gates.append(rate_gate("all campaign cases", sum(r.passed for r in categories_rows),
                           sum(r.cases for r in categories_rows), 1.0))
    return SuiteReport(suite="campaigns", seconds=time.perf_counter() - started, gates=gates,
                       categories=categories_rows, rows=rows, summary={"cases": len(cases)})


def print_campaigns(report: SuiteReport, *, verbose: bool = False) -> None:
    print("\n== campaigns ==")
    print_categories(report)
    failures = [[row["id"], failure] for row in report.rows for failure in row["failed"]]
    if failures:
        print(format_table(["case", "failed check"], failures, max_width=110))
    if verbose:
        print(format_table(["case", "guests"], [[r["id"], r["guests"]] for r in report.rows], max_width=140))
