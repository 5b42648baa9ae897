"""`python -m evals`: run the eval suites, print their tables and gates, write JSON reports.

Exit code 1 when any gate of a suite that ran fails, so `make evals` (run by CI after the tests)
fails the build. Separate from pytest on purpose: evals measure quality against thresholds and
take a minute (the segment suite embeds a sandbox with the real model); unit tests check behaviour.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence

from evals.report import SuiteReport, write_report

SUITES = ("offers", "segments")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evals", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--suite", choices=(*SUITES, "all"), default="all", help="which suite to run (default all)")
    parser.add_argument(
        "--customers", type=int, default=None, help="sandbox customers for the segment suite (default 600)"
    )
    parser.add_argument("--seed", type=int, default=None, help="sandbox seed for the segment suite (default 42)")
    parser.add_argument("--no-write", action="store_true", help="do not write evals/reports/<suite>.json")
    return parser.parse_args(argv)


def run_suite(name: str, args: argparse.Namespace) -> SuiteReport:
    if name == "offers":
        from evals.offers.suite import print_offers, run_offers

        report = run_offers()
        print_offers(report)
        return report
    # The real model ships in a package; never let a missing file turn into a hub download.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from evals.segments.suite import DEFAULT_CUSTOMERS, DEFAULT_SEED, print_segments, run_segments

    report = run_segments(
        customers=args.customers or DEFAULT_CUSTOMERS, seed=args.seed if args.seed is not None else DEFAULT_SEED
    )
    print_segments(report)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    names = SUITES if args.suite == "all" else (args.suite,)
    reports = [run_suite(name, args) for name in names]
    print("\n== gates ==")
    for report in reports:
        for gate in report.gates:
            print(f"{report.suite:9s} {gate.line()}")
        if not args.no_write:
            print(f"{report.suite:9s} report written to {write_report(report)}")
    failed = [gate.name for report in reports for gate in report.gates if not gate.passed]
    print(f"\nevals finished in {time.perf_counter() - started:.1f}s: " + ("FAILED: " + "; ".join(failed) if failed
                                                                            else "all gates passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
