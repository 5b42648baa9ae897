"""Shared reporting for the eval suites: pass-rate gates, plain-text tables and JSON reports.

A suite returns a `SuiteReport`; the CLI prints it and writes it to `evals/reports/<suite>.json`
(gitignored) so CI keeps the numbers as an artifact and a reader can diff two runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

REPORTS_DIR = Path(__file__).with_name("reports")


class Gate(BaseModel):
    """One threshold a suite must meet; `passed` is what decides the exit code."""

    name: str
    measured: float
    threshold: float
    comparison: str = ">="  # only ">=" is used: every gate is "at least"
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.measured >= self.threshold

    def line(self) -> str:
        status = "PASS" if self.passed else "FAIL"
        detail = f"  ({self.detail})" if self.detail else ""
        return f"[{status}] {self.name}: {self.measured:.3f} {self.comparison} {self.threshold:.3f}{detail}"


class SuiteReport(BaseModel):
    suite: str
    seconds: float
    summary: dict[str, Any] = Field(default_factory=dict)
    gates: list[Gate] = Field(default_factory=list)
    rows: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(gate.passed for gate in self.gates)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, max_width: int = 60) -> str:
    """A fixed-width text table (cells cut at `max_width` so one long query cannot wrap the table)."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            text = f"{value:.2f}"
        else:
            text = str(value)
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    body = [[cell(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in body)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body)
    return "\n".join(lines)


def write_report(report: SuiteReport, directory: Path = REPORTS_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{report.suite}.json"
    payload = report.model_dump(mode="json")
    payload["passed"] = report.passed
    for gate, dumped in zip(report.gates, payload["gates"], strict=True):
        dumped["passed"] = gate.passed
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path
