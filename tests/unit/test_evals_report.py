"""Eval framework pieces: gates print their denominators, empty gates fail, the baseline catches a
category drop of more than two points, repeats expose flaky cases, the CLI's switches parse, and the
engine hook switches a rule off only inside its block."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.schemas import CustomerFacts, OfferDraft
from evals import cli as evals_cli
from evals.cli import SUITES, Suite, parse_args, selected_suites
from evals.report import (
    CategoryRow,
    Gate,
    SuiteReport,
    baseline_gate,
    combine_repeats,
    markdown,
    rate_gate,
    write_baseline,
    write_report,
)
from guardrails.context import GuardrailContext
from guardrails.engine import evaluate, rules_disabled
from guardrails.policy import default_policy
from sandbox.menu import MENU_BY_SKU


def report(passed: dict[str, int], cases: int = 10, rows: list[dict[str, object]] | None = None) -> SuiteReport:
    categories = [CategoryRow(category=name, cases=cases, passed=n) for name, n in passed.items()]
    return SuiteReport(suite="unit", seconds=1.0, categories=categories, rows=rows or [],
                       gates=[rate_gate("quality", sum(passed.values()), cases * len(passed), 0.95)])


def test_gate_lines_carry_the_denominator() -> None:
    gate = rate_gate("safety", 147, 150, 1.0)
    assert not gate.passed and "147/150" in gate.line() and "FAIL" in gate.line()
    assert "n=44" in Gate(name="p@10", measured=0.93, threshold=0.92, denominator=44).line()
    assert Gate(name="drop", measured=0.01, threshold=0.02, comparison="<=").passed


def test_a_gate_over_nothing_fails() -> None:
    empty = rate_gate("nothing ran", 0, 0, 1.0)
    assert empty.measured == 0 and not empty.passed and "no checks ran" in empty.line()


def test_baseline_fails_a_drop_of_more_than_two_points(tmp_path: Path) -> None:
    write_baseline(report({"allergens": 10, "fatigue": 10}), tmp_path)
    same = baseline_gate(report({"allergens": 10, "fatigue": 10}), tmp_path)
    assert same is not None and same.passed and same.denominator == 2
    dropped = baseline_gate(report({"allergens": 10, "fatigue": 9}), tmp_path)  # -10 points
    assert dropped is not None and not dropped.passed and "fatigue" in dropped.detail
    small = baseline_gate(report({"allergens": 50, "fatigue": 49}, cases=50), tmp_path)  # -2 points exactly
    assert small is not None and small.passed
    assert baseline_gate(report({"allergens": 10}), tmp_path / "missing") is None


def test_repeats_take_the_worst_run_and_flag_flaky_cases() -> None:
    first = report({"a": 10}, rows=[{"id": "x", "failed": []}, {"id": "y", "failed": []}])
    second = report({"a": 9}, rows=[{"id": "x", "failed": ["boom"]}, {"id": "y", "failed": []}])
    combined = combine_repeats([first, second])
    assert combined.categories[0].passed == 9
    flaky = next(g for g in combined.gates if g.name.startswith("no case flaky"))
    assert not flaky.passed and flaky.numerator == 1 and flaky.denominator == 2 and "x" in flaky.detail
    assert combined.summary["flaky"] == ["x"]


def test_reports_are_written_as_json_and_markdown(tmp_path: Path) -> None:
    r = report({"allergens": 10, "fatigue": 8}, rows=[{"id": "c1", "failed": ["[safety] GuestSafe: leak"]}])
    path = write_report(r, tmp_path)
    data = json.loads(path.read_text())
    assert data["passed"] is False and data["categories"][1]["passed"] == 8
    md = (tmp_path / "unit.md").read_text()
    assert "| fatigue | 10 | 8 | 80.0% |" in md and "`c1`: [safety] GuestSafe: leak" in md
    assert "## Gates" in markdown(r)


def test_cli_flags_and_suites() -> None:
    args = parse_args(["--suite", "offers", "--disable-rule", "allergens", "--disable-rule", "copy",
                       "--category", "alcohol", "--repeat", "2", "--disable-drafter-safety"])
    assert args.disable_rule == ["allergens", "copy"] and args.repeat == 2 and args.disable_drafter_safety
    assert selected_suites(args) == ["offers"]
    assert selected_suites(parse_args([])) == list(SUITES)
    assert {"offers", "segments"} <= set(SUITES)
    with pytest.raises(SystemExit):
        parse_args(["--disable-rule", "no_such_rule"])
    with pytest.raises(SystemExit):
        parse_args(["--repeat", "0"])


def _context(**offer: object) -> GuardrailContext:
    item = MENU_BY_SKU["CRAB-CAKES"]
    from core.schemas import CatalogFact

    catalog = {item.sku: CatalogFact(sku=item.sku, name=item.name, category=item.category,
                                     price_cents=item.price_cents, unit_cost_cents=item.unit_cost_cents,
                                     allergens=list(item.allergens))}
    draft = OfferDraft(make_offer=True, offer_type="percent_off_item", sku="CRAB-CAKES", discount_pct=10,
                       sms_text="Hi {first_name}, code {promo_code}. Reply STOP to opt out", confidence=0.9,
                       **offer)  # type: ignore[arg-type]
    customer = CustomerFacts(pseudonym="g_unit", allergies=["shellfish"], consent_sms=True, age_verified=True)
    return GuardrailContext(offer=draft, customer=customer, catalog=catalog, history=[], policy=default_policy(),
                            now=datetime(2026, 11, 3, 4, 30, tzinfo=UTC))  # 23:30 in New York


def test_rules_disabled_forces_pass_only_inside_the_block() -> None:
    ctx = _context()
    assert evaluate(ctx).verdict == "block" and evaluate(ctx).send_at is not None
    with rules_disabled({"allergens", "quiet_hours"}):
        switched = evaluate(_context())
        assert switched.verdict == "pass" and switched.send_at is None
        assert next(r for r in switched.results if r.rule == "allergens").reason == "rule disabled (eval harness)"
    assert evaluate(_context()).verdict == "block"  # reset on exit
    with pytest.raises(ValueError, match="unknown guardrail rule"):
        with rules_disabled({"alergens"}):
            pass


def test_a_target_only_gate_is_printed_as_missed_and_does_not_decide_the_exit_code() -> None:
    target = Gate(name="p@10", measured=0.66, threshold=0.92, denominator=50, target_only="needs a stronger embedder")
    enforced = Gate(name="hybrid >= dense", measured=0.66, threshold=0.65, denominator=50)
    report = SuiteReport(suite="segments", seconds=1.0, gates=[target, enforced])
    assert report.passed
    assert "MISSED (target only)" in target.line() and "needs a stronger embedder" in target.line()
    failing = SuiteReport(suite="segments", seconds=1.0,
                          gates=[target, Gate(name="hybrid >= dense", measured=0.6, threshold=0.65, denominator=50)])
    assert not failing.passed  # the enforced gates still fail the run


def _suite_with(gates: list[Gate]) -> Suite:
    return Suite(run=lambda args: SuiteReport(suite="segments", seconds=0.1, gates=gates),
                 show=lambda report, args: None, help="scripted")


def test_the_cli_exit_code_ignores_missed_targets_but_not_missed_gates(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    target = Gate(name="p@10", measured=0.66, threshold=0.92, denominator=50, target_only="needs a stronger embedder")
    enforced_ok = Gate(name="hybrid >= dense", measured=0.66, threshold=0.65, denominator=50)
    enforced_bad = Gate(name="hybrid >= dense", measured=0.60, threshold=0.65, denominator=50)

    monkeypatch.setattr(evals_cli, "SUITES", {"segments": _suite_with([target, enforced_ok])})
    assert evals_cli.main(["--suite", "segments", "--no-write"]) == 0
    out = capsys.readouterr().out
    assert "all enforced gates passed" in out and "targets missed, not gating: segments: p@10" in out

    monkeypatch.setattr(evals_cli, "SUITES", {"segments": _suite_with([target, enforced_bad])})
    assert evals_cli.main(["--suite", "segments", "--no-write"]) == 1
    out = capsys.readouterr().out
    assert "FAILED: segments: hybrid >= dense" in out and "FAILED: segments: p@10" not in out
