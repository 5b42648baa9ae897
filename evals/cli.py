"""`python -m evals`: run the eval suites, print their tables and gates, write JSON + Markdown reports.

Exit code 1 when any gate of a suite that ran fails, so `make evals` (run by CI after the tests)
fails the build. Separate from pytest on purpose: evals measure quality against thresholds over
many worlds; unit tests check behaviour.

Suites register in `SUITES` (name -> runner and printer); a new suite (associate Q&A, campaigns)
adds one entry and gets `--suite`, `--category`, `--repeat`, the reports and the baseline for free.

Switches that exist to prove the suite can fail (CI runs them, see tests/integration/test_evals_can_fail.py):
`--disable-rule NAME` forces that guardrail rule's verdicts to pass (and, for quiet_hours, defers
nothing) inside the eval's own runs only; `--disable-drafter-safety` hands the real drafter the whole
catalog with no allergies and alcohol allowed. Either one must make `python -m evals` exit non-zero.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

from evals.report import (
    REPORTS_DIR,
    SuiteReport,
    combine_repeats,
    failed_gates,
    missed_targets,
    write_baseline,
    write_report,
)
from guardrails.policy import RuleName


@dataclass(frozen=True)
class Suite:
    """One eval suite: `run(args)` returns its report, `show(report, args)` prints it."""

    run: Callable[[argparse.Namespace], SuiteReport]
    show: Callable[[SuiteReport, argparse.Namespace], None]
    help: str


def _run_offers(args: argparse.Namespace) -> SuiteReport:
    from evals.offers.suite import OfferOptions, run_offers

    tiers = frozenset({"attack", "drafter"}) if args.tier == "all" else frozenset({args.tier})
    return run_offers(OfferOptions(
        categories=frozenset(args.category or ()),
        disabled_rules=frozenset(args.disable_rule or ()),
        disable_drafter_safety=args.disable_drafter_safety,
        tiers=tiers,
        case_ids=frozenset(args.case or ()),
        copy_rubric=args.copy_rubric,
    ))


def _show_offers(report: SuiteReport, args: argparse.Namespace) -> None:
    from evals.offers.suite import print_offers

    print_offers(report, verbose=args.verbose)


def _run_segments(args: argparse.Namespace) -> SuiteReport:
    # The real model ships in a package; never let a missing file turn into a hub download.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from evals.segments.suite import DEFAULT_CUSTOMERS, DEFAULT_SEED, run_segments

    return run_segments(customers=args.customers or DEFAULT_CUSTOMERS,
                        seed=args.seed if args.seed is not None else DEFAULT_SEED)


def _show_segments(report: SuiteReport, args: argparse.Namespace) -> None:
    from evals.segments.suite import print_segments

    print_segments(report)


def _run_ask(args: argparse.Namespace) -> SuiteReport:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from evals.ask.schema import load_cases
    from evals.ask.suite import MODES, run_ask

    cases = [c for c in load_cases() if (not args.category or c.category in args.category)
             and (not args.case or c.id in args.case)]
    return run_ask(modes=MODES if args.ask_mode == "all" else (args.ask_mode,), cases=cases)


def _show_ask(report: SuiteReport, args: argparse.Namespace) -> None:
    from evals.ask.suite import print_ask

    print_ask(report, verbose=args.verbose)


def _run_campaigns(args: argparse.Namespace) -> SuiteReport:
    from evals.campaigns.suite import run_campaigns

    return run_campaigns(categories=frozenset(args.category or ()), case_ids=frozenset(args.case or ()),
                         disabled_rules=frozenset(args.disable_rule or ()))


def _show_campaigns(report: SuiteReport, args: argparse.Namespace) -> None:
    from evals.campaigns.suite import print_campaigns

    print_campaigns(report, verbose=args.verbose)


SUITES: dict[str, Suite] = {
    "offers": Suite(_run_offers, _show_offers, "offer decisions: worlds through the real graph"),
    "ask": Suite(_run_ask, _show_ask, "associate Q&A: offline, scripted model, adversarial model"),
    "segments": Suite(_run_segments, _show_segments, "segment search precision@10: hybrid vs BM25 vs dense"),
    "campaigns": Suite(_run_campaigns, _show_campaigns, "campaigns: eligibility, shared fatigue, holdout, quiet "
                       "hours, downgrade review, through the real campaign path"),
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evals", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--suite", action="append", choices=(*SUITES, "all"),
                        help="suite to run, repeatable (default all): "
                        + "; ".join(f"{name}: {suite.help}" for name, suite in SUITES.items()))
    parser.add_argument("--category", action="append", help="only cases of this category (repeatable)")
    parser.add_argument("--case", action="append", help="only this case id (repeatable)")
    parser.add_argument("--repeat", type=int, default=1, help="run each suite N times; a case passes only if it "
                        "passes every time, and a flaky case fails the run")
    parser.add_argument("--disable-rule", action="append", choices=get_args(RuleName), metavar="RULE",
                        help="force this guardrail rule to pass inside the eval's runs (proves the suite can "
                        f"fail; repeatable): {', '.join(get_args(RuleName))}")
    parser.add_argument("--disable-drafter-safety", action="store_true",
                        help="give the real drafter the whole catalog, no allergies, alcohol allowed")
    parser.add_argument("--copy-rubric", action="store_true",
                        help="offers: grade delivered copy with the model at LLM_BASE_URL (information, never a gate)")
    parser.add_argument("--tier", choices=("all", "attack", "drafter"), default="all",
                        help="offers: attack runs (guardrails alone), drafter runs, or both (default)")
    parser.add_argument("--ask-mode", choices=("all", "offline", "scripted", "adversarial"), default="all",
                        help="ask: offline answerer, scripted OpenAI-compatible model, adversarial model, or all")
    parser.add_argument("--customers", type=int, default=None, help="segments: sandbox customers (default 600)")
    parser.add_argument("--seed", type=int, default=None, help="segments: sandbox seed (default 42)")
    parser.add_argument("--verbose", action="store_true", help="print one row per case")
    parser.add_argument("--no-write", action="store_true", help="do not write evals/reports/<suite>.{json,md}")
    parser.add_argument("--report-dir", type=Path, default=REPORTS_DIR, help="where reports go (default evals/reports)")
    parser.add_argument("--update-baseline", action="store_true",
                        help="write evals/baseline/<suite>.json from this run (do it on main, then commit)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def selected_suites(args: argparse.Namespace) -> list[str]:
    chosen = args.suite or ["all"]
    return list(SUITES) if "all" in chosen else list(dict.fromkeys(chosen))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    reports = []
    for name in selected_suites(args):
        suite = SUITES[name]
        report = combine_repeats([suite.run(args) for _ in range(args.repeat)])
        suite.show(report, args)
        reports.append(report)
    print("\n== gates ==")
    for report in reports:
        for gate in report.gates:
            print(f"{report.suite:9s} {gate.line()}")
        if not args.no_write:
            print(f"{report.suite:9s} reports written to {write_report(report, args.report_dir)} (+ .md)")
        if args.update_baseline and (baseline := write_baseline(report)) is not None:
            print(f"{report.suite:9s} baseline written to {baseline}")
    failed, missed = failed_gates(reports), missed_targets(reports)
    cases = sum(report.cases for report in reports)
    print(f"\nevals finished in {time.perf_counter() - started:.1f}s, {cases} cases: "
          + ("FAILED: " + "; ".join(failed) if failed else "all enforced gates passed")
          + (" (targets missed, not gating: " + "; ".join(missed) + ")" if missed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
