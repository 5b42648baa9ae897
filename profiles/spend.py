"""Spend per visit (Gamma-Gamma model) and customer lifetime value.

Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV"; Colombo & Jiang 1999): a customer's ticket
amounts are Gamma(p, nu) around their own mean p / nu, and nu varies across customers as
Gamma(q, gamma). The posterior mean spend per visit is a credibility-weighted average of the
customer's observed mean ticket and the population mean:

    E[spend | x visits, mean m] = w * m + (1 - w) * pop_mean,   w = p x / (p x + q - 1),
    pop_mean = p gamma / (q - 1)

so one visit with an unusual ticket does not make a "high spender". Spend is assumed independent of
visit frequency (the model's standing assumption; fine for restaurant tickets).

We use every visit's ticket (first visits included: a restaurant's first ticket is as informative as
later ones). Amounts are in cents.

CLV (see `clv_cents`) = expected visits over the horizon (BG/NBD, conditional on the history) x
expected spend per visit (Gamma-Gamma) x gross margin. Undiscounted: for a 12-month horizon the
discount factor is a few percent, well inside the model's error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import gammaln

FloatArray = NDArray[np.float64]

# Default shape parameters used when a merchant has too few customers to fit: p = 6 means one
# guest's tickets vary with a coefficient of variation of 1/sqrt(6) ~ 0.4 around their own mean;
# q = 4 puts 3/7 of the weight on the population mean after one visit and 1/5 after four (shrinkage
# fades quickly as visits accrue). gamma is set from the merchant's own average ticket (see
# `spend_priors`), so priors only need the merchant's mean, which is known from day one.
PRIOR_P = 6.0
PRIOR_Q = 4.0
MIN_SPEND_CUSTOMERS = 100  # fit Gamma-Gamma only with at least this many customers having >= 2 visits

# Restaurant gross margin on menu price when catalog costs are unknown (food cost ~30-35%).
DEFAULT_GROSS_MARGIN = 0.65


@dataclass(frozen=True, slots=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float

    @property
    def population_mean(self) -> float:
        """Mean spend per visit across customers (cents); infinite when q <= 1."""
        return self.p * self.gamma / (self.q - 1.0) if self.q > 1.0 else float("inf")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def spend_priors(mean_ticket_cents: float) -> GammaGammaParams:
    """Priors whose population mean equals the merchant's observed average ticket."""
    mean = max(float(mean_ticket_cents), 1.0)
    return GammaGammaParams(p=PRIOR_P, q=PRIOR_Q, gamma=mean * (PRIOR_Q - 1.0) / PRIOR_P)


def _log_likelihood(log_params: FloatArray, x: FloatArray, m: FloatArray) -> FloatArray:
    p, q, g = np.exp(log_params)
    return (
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(g)
        + (p * x - 1.0) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(x * m + g)
    )


def fit_gamma_gamma(visits: ArrayLike, mean_ticket_cents: ArrayLike) -> GammaGammaParams | None:
    """Maximum-likelihood fit on customers with at least two visits and a positive mean ticket.

    Returns None when the fit is unusable (too few customers, no convergence, or q <= 1 which has
    no finite population mean): callers then use `spend_priors`.
    """
    x = np.asarray(visits, dtype=np.float64)
    m = np.asarray(mean_ticket_cents, dtype=np.float64)
    keep = (x >= 2) & (m > 0)
    x, m = x[keep], m[keep]
    if x.size < MIN_SPEND_CUSTOMERS:
        return None
    scale = float(m.mean())
    m_scaled = m / scale  # fit in units of the mean ticket so the optimiser works near 1

    def objective(log_params: FloatArray) -> float:
        value = float(_log_likelihood(log_params, x, m_scaled).mean())
        return -value if np.isfinite(value) else 1e300

    best = None
    for start in ([1.0, 1.0, 1.0], [np.log(PRIOR_P), np.log(PRIOR_Q), np.log((PRIOR_Q - 1) / PRIOR_P)]):
        result = minimize(objective, np.asarray(start, dtype=np.float64), method="L-BFGS-B", bounds=[(-8, 8)] * 3)
        if best is None or result.fun < best.fun:
            best = result
    assert best is not None
    if not np.isfinite(best.fun) or np.any(np.abs(best.x) > 7.99):
        return None
    p, q, g = (float(v) for v in np.exp(best.x))
    if q <= 1.0:
        return None
    return GammaGammaParams(p=p, q=q, gamma=g * scale)


def expected_spend_per_visit(params: GammaGammaParams, visits: ArrayLike, mean_ticket_cents: ArrayLike) -> FloatArray:
    """Posterior mean spend per visit (cents); the population mean for customers with no visits."""
    x = np.asarray(visits, dtype=np.float64)
    m = np.asarray(mean_ticket_cents, dtype=np.float64)
    p, q, g = params.p, params.q, params.gamma
    with np.errstate(divide="ignore", invalid="ignore"):
        posterior = p * (g + x * m) / (p * x + q - 1.0)
    return np.asarray(np.where(x > 0, posterior, params.population_mean), dtype=np.float64)


def clv_cents(
    expected_visits: ArrayLike, expected_spend_cents: ArrayLike, *, gross_margin: float = DEFAULT_GROSS_MARGIN
) -> FloatArray:
    """Undiscounted gross-margin value over the horizon the expected visits were computed for."""
    visits = np.asarray(expected_visits, dtype=np.float64)
    return visits * np.asarray(expected_spend_cents, dtype=np.float64) * gross_margin


def choose_spend_params(
    fitted: GammaGammaParams | None, *, mean_ticket_cents: float
) -> tuple[GammaGammaParams, Literal["fitted", "priors"]]:
    if fitted is not None:
        return fitted, "fitted"
    return spend_priors(mean_ticket_cents), "priors"
