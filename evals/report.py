"""Shared reporting for the eval suites: gates with their denominators, per-category tables, JSON and
Markdown reports, repeats and the committed baseline.

A suite returns a `SuiteReport`; the CLI prints it and writes `evals/reports/<suite>.json` and
`<suite>.md` (gitignored) so CI keeps the numbers as an artifact and a reader can diff two runs.
`evals/baseline/<suite>.json` (committed) holds each category's pass rate from main; a category that
drops more than `BASELINE_TOLERANCE` below it fails the run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

REPORTS_DIR = Path(__file__).with_name("reports")
BASELINE_DIR = Path(__file__).with_name("baseline")
BASELINE_TOLERANCE = 0.02  # a category may not drop more than 2 points below the committed baseline


class Gate(BaseModel):
    """One threshold a suite must meet; `passed` is what decides the exit code.

    `numerator`/`denominator` say what the measured rate is made of, e.g. 147/150 checks; a gate on a
    mean (precision@10) gives the number of queries as its denominator.
    """

    name: str
    measured: float
    threshold: float
    comparison: Literal[">=", "<="] = ">="
    numerator: int | None = None
    denominator: int | None = None
    detail: str = ""
    target_only: str | None = None
    """Set (to the reason) for a goal that is measured and printed but cannot be met honestly yet: it
    does not decide the exit code, and every report says MISSED with that reason. Never set it to make
    a run pass that used to pass."""

    @property
    def passed(self) -> bool:
        if self.comparison == "<=":
            return self.measured <= self.threshold
        return self.measured >= self.threshold

    def counts(self) -> str:
        if self.denominator is None:
            return "n/a"
        if self.numerator is None:
            return f"n={self.denominator}"
        return f"{self.numerator}/{self.denominator}"

    @property
    def result(self) -> str:
        if self.passed:
            return "PASS"
        return "MISSED (target only)" if self.target_only else "FAIL"

    def line(self) -> str:
        status = self.result
        detail = f"; {self.detail}" if self.detail else ""
        if self.target_only and not self.passed:
            detail += f"; not gating CI: {self.target_only}"
        return (f"[{status}] {self.name}: {self.measured:.3f} {self.comparison} {self.threshold:.3f}"
                f"  ({self.counts()}{detail})")


def rate_gate(name: str, passed: int, total: int, threshold: float, detail: str = "") -> Gate:
    """A pass-rate gate; an empty denominator measures 0 (a gate over nothing must not pass silently)."""
    return Gate(name=name, measured=passed / total if total else 0.0, threshold=threshold, numerator=passed,
                denominator=total, detail=detail or ("no checks ran" if not total else ""))


class CategoryRow(BaseModel):
    """One line of the per-category table."""

    category: str
    cases: int
    passed: int
    skipped: int = 0
    checks: dict[str, list[int]] = Field(default_factory=dict, description="kind -> [passed, total]")

    @property
    def rate(self) -> float:
        return self.passed / self.cases if self.cases else 0.0


class SuiteReport(BaseModel):
    suite: str
    seconds: float
    summary: dict[str, Any] = Field(default_factory=dict)
    gates: list[Gate] = Field(default_factory=list)
    categories: list[CategoryRow] = Field(default_factory=list)
    rows: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(gate.passed for gate in self.gates if not gate.target_only)

    @property
    def cases(self) -> int:
        return sum(row.cases for row in self.categories) if self.categories else len(self.rows)


def failed_gates(reports: Sequence[SuiteReport]) -> list[str]:
    """The enforced gates a run missed, as "suite: gate"; the run's exit code is 1 exactly when this is non-empty."""
    return [f"{report.suite}: {gate.name}" for report in reports for gate in report.gates
            if not gate.passed and not gate.target_only]


def missed_targets(reports: Sequence[SuiteReport]) -> list[str]:
    """Target-only gates a run missed: printed every run, never deciding the exit code."""
    return [f"{report.suite}: {gate.name}" for report in reports for gate in report.gates
            if not gate.passed and gate.target_only]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, max_width: int = 60) -> str:
    """A fixed-width text table (cells cut at `max_width` so one long query cannot wrap the table)."""

    def cell(value: object) -> str:
        text = f"{value:.2f}" if isinstance(value, float) else str(value)
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    body = [[cell(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in body)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body)
    return "\n".join(lines)


def category_table(report: SuiteReport, kinds: Sequence[str] = ()) -> tuple[list[str], list[list[object]]]:
    headers = ["category", "cases", "passed", "rate", *kinds, "skipped"]
    rows: list[list[object]] = []
    for row in report.categories:
        checks = [f"{row.checks[k][0]}/{row.checks[k][1]}" if k in row.checks else "-" for k in kinds]
        rows.append([row.category, row.cases, row.passed, f"{row.rate:.1%}", *checks, row.skipped or ""])
    total_cases = sum(r.cases for r in report.categories)
    total_passed = sum(r.passed for r in report.categories)
    totals = []
    for k in kinds:
        passed = sum(r.checks.get(k, [0, 0])[0] for r in report.categories)
        total = sum(r.checks.get(k, [0, 0])[1] for r in report.categories)
        totals.append(f"{passed}/{total}" if total else "-")
    skipped = sum(r.skipped for r in report.categories)
    rows.append(["all", total_cases, total_passed, f"{total_passed / total_cases:.1%}" if total_cases else "-",
                 *totals, skipped or ""])
    return headers, rows


def print_categories(report: SuiteReport, kinds: Sequence[str] = ()) -> None:
    headers, rows = category_table(report, kinds)
    print(format_table(headers, rows))
    print(f"{report.cases} cases")


# --------------------------------------------------------------------------------------------- files


def write_report(report: SuiteReport, directory: Path = REPORTS_DIR) -> Path:
    """`<suite>.json` (everything) and `<suite>.md` (tables a person reads); returns the JSON path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{report.suite}.json"
    payload = report.model_dump(mode="json")
    payload["passed"] = report.passed
    for gate, dumped in zip(report.gates, payload["gates"], strict=True):
        dumped["passed"] = gate.passed
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    (directory / f"{report.suite}.md").write_text(markdown(report), encoding="utf-8")
    return path


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(report: SuiteReport) -> str:
    out = [f"# evals: {report.suite}", "", f"{'PASSED' if report.passed else 'FAILED'} in {report.seconds:.1f}s", ""]
    if report.categories:
        kinds = sorted({k for row in report.categories for k in row.checks})
        out += ["## Categories", "", _md_table(*category_table(report, kinds)), "", f"{report.cases} cases", ""]
    out += ["## Gates", "", _md_table(
        ["gate", "measured", "threshold", "counts", "result"],
        [[g.name, f"{g.measured:.3f}", f"{g.comparison} {g.threshold:.3f}", g.counts(), g.result.lower()]
         for g in report.gates]), ""]
    failures = [(row.get("id", "?"), failure) for row in report.rows for failure in row.get("failed", [])]
    if failures:
        out += ["## Failed checks", ""] + [f"- `{case}`: {failure}" for case, failure in failures] + [""]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------- baseline


def baseline_path(suite: str, directory: Path = BASELINE_DIR) -> Path:
    return directory / f"{suite}.json"


def write_baseline(report: SuiteReport, directory: Path = BASELINE_DIR) -> Path | None:
    """Record each category's pass rate (run this on main, then commit the file); None for a suite
    without categories (nothing to compare)."""
    if not report.categories:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    path = baseline_path(report.suite, directory)
    payload = {
        "suite": report.suite,
        "categories": {row.category: {"cases": row.cases, "passed": row.passed, "rate": round(row.rate, 4)}
                       for row in report.categories},
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path


def baseline_gate(report: SuiteReport, directory: Path = BASELINE_DIR) -> Gate | None:
    """The largest drop of a category's pass rate below the committed baseline (None without one)."""
    path = baseline_path(report.suite, directory)
    if not path.exists() or not report.categories:
        return None
    base = json.loads(path.read_text(encoding="utf-8"))["categories"]
    compared = [(row.category, base[row.category]["rate"] - row.rate) for row in report.categories
                if row.category in base and row.cases]
    if not compared:
        return None
    worst_category, worst = max(compared, key=lambda pair: pair[1])
    return Gate(name="no category below the baseline by more than 2 points", measured=round(max(worst, 0.0), 4),
                threshold=BASELINE_TOLERANCE, comparison="<=", denominator=len(compared),
                detail=f"worst: {worst_category} {-worst:+.1%}" if worst > 0 else "no category dropped")


# --------------------------------------------------------------------------------------------- repeats


def combine_repeats(reports: Sequence[SuiteReport]) -> SuiteReport:
    """N runs of one suite as one report: each gate at its worst, each category at its fewest passes,
    a case passes only if it passed every time, and a gate that no case may be flaky."""
    first = reports[0]
    if len(reports) == 1:
        return first
    gates = []
    for gate in first.gates:
        same = [g for r in reports for g in r.gates if g.name == gate.name]
        worst = max(same, key=lambda g: g.measured) if gate.comparison == "<=" else min(same, key=lambda g: g.measured)
        gates.append(worst)
    categories = []
    for category in first.categories:
        same_rows = [c for r in reports for c in r.categories if c.category == category.category]
        categories.append(min(same_rows, key=lambda c: c.passed))
    outcomes: dict[str, set[bool]] = {}
    for r in reports:
        for row in r.rows:
            outcomes.setdefault(str(row.get("id")), set()).add(not row.get("failed"))
    flaky = sorted(case for case, seen in outcomes.items() if len(seen) > 1)
    gates.append(Gate(name=f"no case flaky over {len(reports)} repeats", measured=len(flaky), threshold=0,
                      comparison="<=", numerator=len(flaky), denominator=len(outcomes),
                      detail=", ".join(flaky[:10])))
    rows = [dict(row, flaky=str(row.get("id")) in flaky) for row in first.rows]
    summary = {**first.summary, "repeats": len(reports), "flaky": flaky}
    return SuiteReport(suite=first.suite, seconds=sum(r.seconds for r in reports), summary=summary, gates=gates,
                       categories=categories, rows=rows)
