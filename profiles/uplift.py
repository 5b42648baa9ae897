"""The statistics of a campaign against its holdout: two independent proportions.

- `difference`: absolute uplift (treatment - holdout) with Newcombe's hybrid score interval
  (statsmodels `confint_proportions_2indep`, method "newcomb"), and the relative lift.
- `power_for` / `detectable_effect`: a two-sided z-test's power for a given absolute effect at these group
  sizes (Cohen's h through `proportion_effectsize`, `NormalIndPower`), and the smallest effect detectable at
  80 % power; a campaign is flagged underpowered when its power for the policy's effect is below 80 %.
- `sample_ratio_mismatch`: chi-square goodness of fit of the arm sizes against the planned holdout share;
  p < 0.001 means the split (or what happened after it) is broken and the uplift cannot be trusted.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from scipy.stats import chisquare
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_effectsize

ALPHA = 0.05
TARGET_POWER = 0.8
SRM_P = 0.001


@dataclass(frozen=True)
class Difference:
    treatment_rate: float | None
    holdout_rate: float | None
    absolute: float | None  # treatment - holdout
    ci95: tuple[float, float] | None
    relative: float | None  # absolute / holdout rate (None when the holdout rate is 0)
    method: str = "newcomb"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ci95"] = list(self.ci95) if self.ci95 is not None else None
        return out


def difference(count_t: int, n_t: int, count_h: int, n_h: int, *, alpha: float = ALPHA) -> Difference:
    """Treatment minus holdout of two proportions, with its (1 - alpha) Newcombe interval."""
    if n_t <= 0 or n_h <= 0:
        return Difference(count_t / n_t if n_t else None, count_h / n_h if n_h else None, None, None, None)
    rate_t, rate_h = count_t / n_t, count_h / n_h
    low, high = confint_proportions_2indep(count_t, n_t, count_h, n_h, method="newcomb", compare="diff",
                                           alpha=alpha)
    relative = (rate_t - rate_h) / rate_h if rate_h > 0 else None
    return Difference(rate_t, rate_h, rate_t - rate_h, (float(low), float(high)), relative)


def power_for(effect: float, *, baseline: float, n_t: int, n_h: int, alpha: float = ALPHA) -> float | None:
    """Power of a two-sided test to see an absolute uplift `effect` over `baseline` with these arm sizes."""
    if n_t <= 0 or n_h <= 0:
        return None
    target = min(max(baseline + effect, 1e-9), 1 - 1e-9)
    h = abs(float(proportion_effectsize(target, min(max(baseline, 1e-9), 1 - 1e-9))))
    if h == 0:
        return alpha
    return float(NormalIndPower().power(effect_size=h, nobs1=n_t, alpha=alpha, ratio=n_h / n_t,
                                        alternative="two-sided"))


def detectable_effect(*, baseline: float, n_t: int, n_h: int, power: float = TARGET_POWER,
                      alpha: float = ALPHA) -> float | None:
    """The smallest absolute uplift over `baseline` detectable with `power` at these arm sizes."""
    if n_t <= 0 or n_h <= 0:
        return None
    h = float(NormalIndPower().solve_power(nobs1=n_t, alpha=alpha, power=power, ratio=n_h / n_t,
                                           alternative="two-sided"))
    # Cohen's h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p0)): solve for p1 above the baseline.
    top = 2 * math.asin(math.sqrt(min(max(baseline, 0.0), 1.0))) + h
    if top >= math.pi:
        return None  # not detectable below a rate of 100 %
    return math.sin(top / 2) ** 2 - baseline


@dataclass(frozen=True)
class SampleRatio:
    expected_holdout_share: float
    observed_holdout_share: float | None
    p_value: float | None
    mismatch: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sample_ratio_mismatch(n_t: int, n_h: int, *, holdout_pct: float) -> SampleRatio:
    """Do the arm sizes fit the planned split? (chi-square, 1 degree of freedom)."""
    total = n_t + n_h
    share = holdout_pct / 100
    if total == 0 or share in (0.0, 1.0):
        return SampleRatio(share, n_h / total if total else None, None, False)
    p_value = float(chisquare([n_t, n_h], [total * (1 - share), total * share]).pvalue)
    return SampleRatio(share, n_h / total, p_value, p_value < SRM_P)
