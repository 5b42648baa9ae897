"""BG/NBD on the real CDNOW sample must reproduce the published fit (Fader, Hardie & Lee 2005)."""

from __future__ import annotations

import json

import pytest

from benchmarks.cdnow import DEFAULT_PATH, PUBLISHED, evaluate, load_cdnow, main

pytestmark = pytest.mark.skipif(not DEFAULT_PATH.exists(), reason=f"CDNOW sample not found at {DEFAULT_PATH}")


def test_preparation_matches_the_standard_summary() -> None:
    summary = load_cdnow(DEFAULT_PATH)
    assert len(summary.customer_ids) == 2357
    # Published calibration summary of the sample: 1,411 customers without a repeat purchase.
    assert int((summary.frequency == 0).sum()) == 1411
    assert summary.T.max() == pytest.approx(272 / 7)  # first purchase 1997-01-01, calibration to 09-30
    assert (summary.recency <= summary.T).all()


def test_fit_lands_on_published_parameters_and_holdout_is_close() -> None:
    fit, holdout, _ = evaluate(load_cdnow(DEFAULT_PATH))
    for name in ("r", "alpha", "a", "b"):
        assert getattr(fit.params, name) == pytest.approx(PUBLISHED[name], rel=0.01), name
    assert fit.log_likelihood == pytest.approx(PUBLISHED["log_likelihood"], abs=0.5)
    assert fit.converged
    predicted, actual = holdout["predicted_total"], holdout["actual_total"]
    assert abs(predicted - actual) / actual < 0.15
    groups = holdout["by_frequency"]
    assert list(groups) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert sum(g["customers"] for g in groups.values()) == 2357
    predicted_means = [g["predicted"] for g in groups.values()]
    assert predicted_means == sorted(predicted_means)


def test_cli_json_last_line(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--json"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    payload = json.loads(last)
    assert set(payload["params"]) == {"r", "alpha", "a", "b"}
    assert {"predicted_total", "actual_total", "by_frequency"} <= set(payload["holdout"])
    assert payload["log_likelihood"] == pytest.approx(-9582.4, abs=0.5)
