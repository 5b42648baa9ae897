"""The eval suite can fail: switching off any one guardrail rule, or the drafter's own safety, makes
`python -m evals` exit non-zero, and for a reason: more checks fail than with everything on.

Each switched run covers the categories whose attack drafts that rule should stop (attack runs only,
guardrails alone), which keeps the test to a few minutes; the same selection with nothing switched off
is the control. The control is compared, not assumed green: a category with a known product gap
still shows that the switch added failures. One switch goes through a real `python -m evals` process;
the others call the same `main()` in-process (what `python -m evals` runs), sharing the loaded models.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from evals.cli import main

pytestmark = pytest.mark.timeout(1800)

# Rule -> the categories whose attacks rely on it (every rule of guardrails.policy.RuleName).
RULE_CATEGORIES: dict[str, tuple[str, ...]] = {
    "structure": ("structure",),
    "consent": ("consent",),
    "allergens": ("allergens",),
    "alcohol": ("alcohol",),
    "margin": ("margin_discount",),
    "discount": ("margin_discount",),
    "offer_value": ("margin_discount",),
    "fatigue": ("fatigue",),
    "quiet_hours": ("quiet_hours",),
    "copy": ("copy", "pii"),
    "escalation": ("escalation",),
}
ROOT = Path(__file__).resolve().parents[2]


def _argv(categories: tuple[str, ...], report_dir: Path, *extra: str) -> list[str]:
    argv = ["--suite", "offers", "--report-dir", str(report_dir), *extra]
    for category in categories:
        argv += ["--category", category]
    return argv


def _failed_checks(report_dir: Path, kind: str) -> int:
    report = json.loads((report_dir / "offers.json").read_text())
    return sum(1 for row in report["rows"] for result in row["results"]
               if result["kind"] == kind and not result["passed"])


@cache
def _control(categories: tuple[str, ...], tier: str, root: str) -> int:
    """Failed checks of `kind` with nothing switched off (cached per selection)."""
    report_dir = Path(root) / ("control-" + tier + "-" + "-".join(categories))
    main(_argv(categories, report_dir, "--tier", tier))
    return _failed_checks(report_dir, "guardrails" if tier == "attack" else "self_safety")


def test_every_rule_is_covered() -> None:
    from typing import get_args

    from guardrails.policy import RuleName

    assert set(RULE_CATEGORIES) == set(get_args(RuleName))


@pytest.mark.parametrize("rule", sorted(set(RULE_CATEGORIES) - {"allergens"}))
def test_switching_off_a_rule_fails_the_suite(rule: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.getbasetemp() / "evals-can-fail"
    categories = RULE_CATEGORIES[rule]
    report_dir = root / f"without-{rule}"
    code = main(_argv(categories, report_dir, "--tier", "attack", "--disable-rule", rule))
    assert code != 0, f"python -m evals passed with the {rule} rule switched off"
    switched, control = _failed_checks(report_dir, "guardrails"), _control(categories, "attack", str(root))
    assert switched > control, f"{rule} off: {switched} failed guardrail checks, {control} with every rule on"


def test_python_m_evals_exits_non_zero_without_the_allergen_rule(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("LLM_BASE_URL", None)
    run = subprocess.run(
        [sys.executable, "-m", "evals", *_argv(("allergens",), tmp_path, "--tier", "attack",
                                                "--disable-rule", "allergens")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    assert "SWITCHED OFF: rules ['allergens']" in run.stdout
    assert "[FAIL] guardrails alone stop every allergens attack" in run.stdout
    assert _failed_checks(tmp_path, "guardrails") > 0


def test_switching_off_the_drafter_self_safety_fails_the_suite(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.getbasetemp() / "evals-can-fail"
    categories = ("allergens", "alcohol")
    report_dir = root / "careless-drafter"
    code = main(_argv(categories, report_dir, "--tier", "drafter", "--disable-drafter-safety"))
    assert code != 0, "python -m evals passed with the drafter's own safety switched off"
    switched, control = _failed_checks(report_dir, "self_safety"), _control(categories, "drafter", str(root))
    assert switched > control, f"careless drafter: {switched} self-safety failures, {control} with it on"
