"""The report's statistics: Newcombe's interval (checked against its definition from Wilson intervals), the
interval's coverage of a known uplift by simulation, power and detectable effect, sample-ratio mismatch."""

from __future__ import annotations

import math
import random

import pytest
from statsmodels.stats.proportion import proportion_confint

from profiles.uplift import detectable_effect, difference, power_for, sample_ratio_mismatch


@pytest.mark.parametrize(
    ("ct", "nt", "ch", "nh"), [(30, 100, 20, 100), (56, 70, 48, 80), (9, 1000, 0, 120), (0, 10, 0, 10)]
)
def test_newcombe_interval_is_built_from_the_two_wilson_intervals(ct: int, nt: int, ch: int, nh: int) -> None:
    p1, p2 = ct / nt, ch / nh
    l1, u1 = proportion_confint(ct, nt, alpha=0.05, method="wilson")
    l2, u2 = proportion_confint(ch, nh, alpha=0.05, method="wilson")
    expected = (p1 - p2 - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
                p1 - p2 + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))
    got = difference(ct, nt, ch, nh)
    assert got.absolute == pytest.approx(p1 - p2)
    assert got.ci95 == pytest.approx(expected, abs=1e-9)
    assert got.relative == (pytest.approx((p1 - p2) / p2) if p2 else None)


def test_the_interval_covers_a_known_uplift_about_95_times_in_100() -> None:
    rng = random.Random(7)
    truth, base, covered, runs = 0.08, 0.25, 0, 400
    for _ in range(runs):
        ct = sum(rng.random() < base + truth for _ in range(300))
        ch = sum(rng.random() < base for _ in range(100))
        low, high = difference(ct, 300, ch, 100).ci95  # type: ignore[misc]
        covered += low <= truth <= high
    assert 0.92 <= covered / runs <= 0.99


def test_power_grows_with_the_sample_and_the_effect() -> None:
    small = power_for(0.05, baseline=0.3, n_t=200, n_h=50)
    large = power_for(0.05, baseline=0.3, n_t=8000, n_h=2000)
    assert small is not None and large is not None and small < 0.8 < large
    assert power_for(0.2, baseline=0.3, n_t=200, n_h=50) > small  # type: ignore[operator]
    mde = detectable_effect(baseline=0.3, n_t=8000, n_h=2000)
    assert mde is not None and power_for(mde, baseline=0.3, n_t=8000, n_h=2000) == pytest.approx(0.8, abs=0.01)
    assert power_for(0.05, baseline=0.3, n_t=0, n_h=10) is None and difference(1, 0, 1, 5).ci95 is None


def test_sample_ratio_mismatch() -> None:
    assert not sample_ratio_mismatch(905, 95, holdout_pct=10).mismatch
    broken = sample_ratio_mismatch(800, 200, holdout_pct=10)
    assert broken.mismatch and broken.p_value is not None and broken.p_value < 1e-6
    assert sample_ratio_mismatch(100, 0, holdout_pct=0).p_value is None
