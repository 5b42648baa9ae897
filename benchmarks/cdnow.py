"""BG/NBD on the CDNOW sample: the standard validation of profiles.bgnbd against published values.

Preparation follows Fader, Hardie & Lee (2005): same-day purchases of a customer are merged into one
transaction; time unit = weeks; calibration runs from each customer's first purchase to 1997-09-30
inclusive; the holdout is the following 39 weeks (1997-10-01 .. 1998-06-30). Published fit on this
sample: r=0.243, alpha=4.414, a=0.793, b=2.426, LL=-9582.4.

    python -m benchmarks.cdnow            # readable table
    python -m benchmarks.cdnow --json     # last line: one JSON object
    python -m benchmarks.cdnow --path /other/CDNOW_sample.txt
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from profiles.bgnbd import BgNbdFit, expected_transactions, fit_bgnbd

DEFAULT_PATH = Path("/work/shared/data/CDNOW_sample.txt")
CALIBRATION_END = date(1997, 9, 30)  # inclusive
HOLDOUT_END = date(1998, 6, 30)  # inclusive
HOLDOUT_WEEKS = (HOLDOUT_END - CALIBRATION_END).days / 7.0  # 39.0
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "log_likelihood": -9582.4}
FREQUENCY_GROUPS = ["0", "1", "2", "3", "4", "5", "6", "7+"]


@dataclass(frozen=True)
class CdnowSummary:
    customer_ids: list[str]
    frequency: np.ndarray  # repeat transactions in calibration
    recency: np.ndarray  # weeks from first to last calibration purchase
    T: np.ndarray  # weeks from first purchase to the end of calibration
    holdout: np.ndarray  # transactions in the holdout period


def _parse_date(raw: str) -> date:
    return date(int(raw[0:4]), int(raw[4:6]), int(raw[6:8]))


def load_cdnow(path: Path) -> CdnowSummary:
    """Read the whitespace-separated file (master id, customer id, yyyymmdd, quantity, dollars) and
    build the calibration summary and holdout counts, one merged transaction per customer-day."""
    days_by_customer: dict[str, set[date]] = defaultdict(set)
    with path.open() as handle:
        for line in handle:
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 5:
                raise ValueError(f"unexpected CDNOW line: {line!r}")
            days_by_customer[fields[0]].add(_parse_date(fields[2]))
    ids: list[str] = []
    freq, rec, t_obs, hold = [], [], [], []
    for customer_id in sorted(days_by_customer):
        days = sorted(days_by_customer[customer_id])
        first = days[0]
        if first > CALIBRATION_END:
            continue  # not in the calibration cohort
        calibration = [d for d in days if d <= CALIBRATION_END]
        ids.append(customer_id)
        freq.append(len(calibration) - 1)
        rec.append((calibration[-1] - first).days / 7.0)
        t_obs.append((CALIBRATION_END - first).days / 7.0)
        hold.append(sum(1 for d in days if CALIBRATION_END < d <= HOLDOUT_END))
    return CdnowSummary(
        customer_ids=ids,
        frequency=np.asarray(freq, dtype=np.float64),
        recency=np.asarray(rec, dtype=np.float64),
        T=np.asarray(t_obs, dtype=np.float64),
        holdout=np.asarray(hold, dtype=np.float64),
    )


def _group(frequency: float) -> str:
    return "7+" if frequency >= 7 else str(int(frequency))


def evaluate(summary: CdnowSummary) -> tuple[BgNbdFit, dict[str, Any], float]:
    started = time.perf_counter()
    fit = fit_bgnbd(summary.frequency, summary.recency, summary.T)
    fit_seconds = time.perf_counter() - started
    predicted = expected_transactions(fit.params, HOLDOUT_WEEKS, summary.frequency, summary.recency, summary.T)
    by_frequency: dict[str, dict[str, float]] = {}
    groups = np.array([_group(f) for f in summary.frequency])
    for label in FREQUENCY_GROUPS:
        sel = groups == label
        count = int(sel.sum())
        by_frequency[label] = {
            "predicted": round(float(predicted[sel].mean()), 4) if count else 0.0,
            "actual": round(float(summary.holdout[sel].mean()), 4) if count else 0.0,
            "customers": count,
        }
    holdout = {
        "weeks": HOLDOUT_WEEKS,
        "predicted_total": round(float(predicted.sum()), 2),
        "actual_total": int(summary.holdout.sum()),
        "by_frequency_measure": "mean holdout transactions per customer, grouped by calibration frequency",
        "by_frequency": by_frequency,
    }
    return fit, holdout, fit_seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH, help="CDNOW_sample.txt location")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)

    summary = load_cdnow(args.path)
    fit, holdout, fit_seconds = evaluate(summary)
    params = {k: round(v, 4) for k, v in fit.params.as_dict().items()}
    if args.json:
        print(
            json.dumps(
                {
                    "params": params,
                    "log_likelihood": round(fit.log_likelihood, 3),
                    "customers": len(summary.customer_ids),
                    "fit_seconds": round(fit_seconds, 3),
                    "published": PUBLISHED,
                    "holdout": holdout,
                }
            )
        )
        return
    print(f"CDNOW sample: {len(summary.customer_ids)} customers, {args.path}")
    print(f"fit in {fit_seconds:.2f} s (converged={fit.converged})")
    print(f"{'param':<16}{'fitted':>10}{'published':>12}")
    for name in ("r", "alpha", "a", "b"):
        print(f"{name:<16}{params[name]:>10.4f}{PUBLISHED[name]:>12.3f}")
    print(f"{'log-likelihood':<16}{fit.log_likelihood:>10.1f}{PUBLISHED['log_likelihood']:>12.1f}")
    print()
    print(f"holdout ({HOLDOUT_WEEKS:.0f} weeks): predicted total {holdout['predicted_total']:.1f}, "
          f"actual total {holdout['actual_total']}")
    print("mean holdout transactions per customer by calibration frequency:")
    print(f"{'frequency':>10}{'customers':>11}{'predicted':>11}{'actual':>9}")
    for label, row in holdout["by_frequency"].items():
        print(f"{label:>10}{row['customers']:>11}{row['predicted']:>11.3f}{row['actual']:>9.3f}")


if __name__ == "__main__":
    main()
