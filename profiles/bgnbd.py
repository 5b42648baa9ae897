"""BG/NBD repeat-visit model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

Implemented directly on numpy/scipy rather than with the `lifetimes` package: `lifetimes` has been
unmaintained since 2020 and pins old pandas/scipy releases, and the model is small enough (a
closed-form likelihood and two closed-form expectations) that owning ~200 lines beats carrying a
dead dependency. Every function is vectorised over customers so a merchant's whole base is scored
with a handful of numpy calls.

Model, per customer:
- while alive, visits follow a Poisson process with rate ``lam``; ``lam ~ Gamma(shape=r, rate=alpha)``;
- after each visit the customer drops out with probability ``p``; ``p ~ Beta(a, b)``.

Inputs per customer (any consistent time unit; the profiles use days, the CDNOW benchmark weeks):
- ``frequency`` x: number of repeat visits (visits after the first);
- ``recency`` t_x: time of the last visit measured from the first one (0 when x == 0);
- ``T``: time from the first visit to the end of the observation window ("now").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, expit, gammaln, hyp2f1, roots_jacobi

FloatArray = NDArray[np.float64]

# Log-parameter box for the optimiser: keeps exp() finite and stops the search wandering into
# degenerate corners (e.g. a, b -> infinity, which is "nobody ever drops out").
_LOG_BOUNDS = (-9.0, 9.0)
_QUADRATURE_NODES = 48


@dataclass(frozen=True, slots=True)
class BgNbdParams:
    """Population parameters: purchase rate ``Gamma(r, alpha)``, dropout probability ``Beta(a, b)``.

    ``alpha`` carries the time unit of the data the parameters were fitted on (``r / alpha`` is the
    mean visit rate per unit of time of an active customer).
    """

    r: float
    alpha: float
    a: float
    b: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class BgNbdFit:
    params: BgNbdParams
    log_likelihood: float
    n: int  # customers (sum of weights) the fit saw
    converged: bool = True


# Priors for a merchant with too little history to fit (time unit: DAYS).
# They describe a neighbourhood full-service restaurant: an active guest's visit rate has mean
# r/alpha = 0.75/30 = 0.025 per day (about one visit every 40 days) with a wide spread across guests
# (shape 0.75 < 1: many occasional guests, a few very frequent regulars), and after each visit a guest
# is lost with probability a/(a+b) = 0.6/(0.6+3.4) = 15% on average. These are in the range reported
# for restaurant / retail loyalty panels and give sensible p_alive curves (a monthly regular silent for
# four months drops below 50%); they are deliberately not fitted to our sandbox so that the fallback
# does not leak generator assumptions.
DEFAULT_PRIORS = BgNbdParams(r=0.75, alpha=30.0, a=0.6, b=3.4)

# Fallback rule (used by profiles.fit): fit per merchant only when at least MIN_REPEAT_CUSTOMERS
# customers have made a repeat visit (x >= 1) AND the optimiser converged to finite, in-box
# parameters; otherwise use DEFAULT_PRIORS. With fewer repeaters the dropout parameters (a, b) are
# poorly identified and a fitted model is noisier than the priors.
MIN_REPEAT_CUSTOMERS = 200


def _as_float_arrays(*values: ArrayLike) -> list[FloatArray]:
    arrays = [np.asarray(v, dtype=np.float64) for v in values]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    return [np.broadcast_to(a, shape) for a in arrays]


def validate_rft(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> None:
    """Refuse inputs the likelihood is undefined for (negative counts, recency outside [0, T])."""
    x, t_x, t_obs = _as_float_arrays(frequency, recency, T)
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_obs < 0):
        raise ValueError("frequency, recency and T must be non-negative")
    if np.any(t_x > t_obs + 1e-9):
        raise ValueError("recency must not exceed T")
    if np.any((x == 0) & (t_x > 0)):
        raise ValueError("recency must be 0 for customers without repeat visits")


def log_likelihood_per_customer(
    params: BgNbdParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """Individual log-likelihoods (FHL 2005, eq. 6), computed in log space with gammaln/betaln."""
    x, t_x, t_obs = _as_float_arrays(frequency, recency, T)
    return _log_likelihood(np.log([params.r, params.alpha, params.a, params.b]), x, t_x, t_obs)


def _log_likelihood(log_params: NDArray[np.float64], x: FloatArray, t_x: FloatArray, t_obs: FloatArray) -> FloatArray:
    r, alpha, a, b = np.exp(log_params)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    still_alive = -(r + x) * np.log(alpha + t_obs)
    repeat = x > 0
    # Second term exists only for repeaters: the customer may have dropped out right after t_x.
    # b + x - 1 > 0 whenever x >= 1, so the log is safe on the masked entries.
    dropped = np.full_like(still_alive, -np.inf)
    xr = x[repeat]
    dropped[repeat] = np.log(a) - np.log(b + xr - 1.0) - (r + xr) * np.log(alpha + t_x[repeat])
    return common + np.logaddexp(still_alive, dropped)


def _compress(
    x: FloatArray, t_x: FloatArray, t_obs: FloatArray, weights: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Collapse identical (x, t_x, T) rows into one weighted row: a big win for day-granular data."""
    stacked = np.stack([x, t_x, t_obs], axis=1)
    unique, inverse = np.unique(stacked, axis=0, return_inverse=True)
    summed = np.asarray(np.bincount(inverse.ravel(), weights=weights, minlength=len(unique)), dtype=np.float64)
    return unique[:, 0], unique[:, 1], unique[:, 2], summed


def fit_bgnbd(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    starts: Sequence[BgNbdParams] | None = None,
) -> BgNbdFit:
    """Maximum-likelihood fit.

    Optimises over log-parameters (so positivity is free) with L-BFGS-B from several starting points
    and polishes the best one with Nelder-Mead; the likelihood surface is flat along (a, b) for
    short histories, and one start occasionally stops on that ridge. ``weights`` counts how many
    customers each row stands for.
    """
    x, t_x, t_obs = (np.ascontiguousarray(v) for v in _as_float_arrays(frequency, recency, T))
    validate_rft(x, t_x, t_obs)
    if x.size == 0:
        raise ValueError("cannot fit BG/NBD on zero customers")
    w = np.ones_like(x) if weights is None else np.broadcast_to(np.asarray(weights, dtype=np.float64), x.shape)
    x, t_x, t_obs, w = _compress(x.ravel(), t_x.ravel(), t_obs.ravel(), np.asarray(w, dtype=np.float64).ravel())
    total_weight = float(w.sum())

    def objective(log_params: NDArray[np.float64]) -> float:
        ll = float(np.dot(w, _log_likelihood(log_params, x, t_x, t_obs)))
        # Scale by n so the optimiser's tolerances mean the same for 100 and 100k customers.
        return -ll / total_weight if np.isfinite(ll) else 1e300

    mean_t = float(np.average(t_obs, weights=w)) or 1.0
    mean_x = float(np.average(x, weights=w))
    if starts is None:
        # Rate start: roughly one visit per observed period for the average customer.
        alpha0 = mean_t / max(mean_x, 0.5)
        starts = [
            BgNbdParams(r=1.0, alpha=alpha0, a=1.0, b=1.0),
            BgNbdParams(r=0.5, alpha=alpha0, a=0.5, b=2.0),
            BgNbdParams(r=0.25, alpha=alpha0 / 4.0, a=1.0, b=3.0),
            DEFAULT_PRIORS,
        ]
    bounds = [_LOG_BOUNDS] * 4
    best: tuple[float, NDArray[np.float64], bool] | None = None
    for start in starts:
        x0 = np.clip(np.log([start.r, start.alpha, start.a, start.b]), *_LOG_BOUNDS)
        result = minimize(objective, x0, method="L-BFGS-B", bounds=bounds)
        if best is None or result.fun < best[0]:
            best = (float(result.fun), result.x, bool(result.success))
    assert best is not None
    polished = minimize(
        objective, best[1], method="Nelder-Mead", options={"xatol": 1e-7, "fatol": 1e-12, "maxiter": 4000}
    )
    if polished.fun <= best[0]:
        best = (float(polished.fun), np.clip(polished.x, *_LOG_BOUNDS), best[2] or bool(polished.success))
    fun, log_params, converged = best
    at_bound = bool(np.any(np.isclose(log_params, _LOG_BOUNDS[0]) | np.isclose(log_params, _LOG_BOUNDS[1])))
    r, alpha, a, b = (float(v) for v in np.exp(log_params))
    return BgNbdFit(
        params=BgNbdParams(r=r, alpha=alpha, a=a, b=b),
        log_likelihood=-fun * total_weight,
        n=round(total_weight),
        converged=bool(converged and not at_bound and np.isfinite(fun)),
    )


def probability_alive(params: BgNbdParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
    """P(customer still active | x, t_x, T) (FHL 2005, eq. 13). Exactly 1 for customers with x == 0:
    in BG/NBD dropout happens only right after a repeat visit."""
    x, t_x, t_obs = _as_float_arrays(frequency, recency, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    with np.errstate(divide="ignore", invalid="ignore"):
        log_odds_dead = np.log(a) - np.log(b + x - 1.0) + (r + x) * (np.log(alpha + t_obs) - np.log(alpha + t_x))
    out = expit(-log_odds_dead)
    return np.where(x > 0, out, 1.0)


def _expected_if_alive_closed_form(
    shape: FloatArray, rate: FloatArray, a: float, b_post: FloatArray, t: FloatArray
) -> FloatArray:
    """E[visits in (0, t] | alive now] for posterior lam ~ Gamma(shape, rate), p ~ Beta(a, b_post)."""
    z = t / (rate + t)
    with np.errstate(all="ignore"):
        hyp = hyp2f1(shape, b_post, a + b_post - 1.0, z)
        return (a + b_post - 1.0) / (a - 1.0) * (1.0 - np.power(rate / (rate + t), shape) * hyp)


def _expected_if_alive_quadrature(
    shape: FloatArray, rate: FloatArray, a: float, b_post: FloatArray, t: FloatArray
) -> FloatArray:
    """The same expectation by Gauss-Jacobi quadrature over p.

    E = E_p[(1 - (rate / (rate + p t))^shape) / p] with p ~ Beta(a, b_post): integrating lam out
    leaves a smooth one-dimensional integral whose Beta weight Gauss-Jacobi handles exactly, even
    with the endpoint singularities of a < 1 or b_post < 1. Used where hyp2f1 is inaccurate
    (a == 1, where the closed form is 0/0, and argument/parameter corners where it overflows).
    """
    out = np.empty_like(shape)
    for bp in np.unique(b_post):
        sel = b_post == bp
        # Weight (1-y)^(bp-1) (1+y)^(a-1) on [-1, 1]; p = (1 + y) / 2.
        nodes, node_weights = roots_jacobi(_QUADRATURE_NODES, bp - 1.0, a - 1.0)
        p = (1.0 + nodes) / 2.0
        norm = node_weights.sum()
        k, rt, tt = shape[sel][:, None], rate[sel][:, None], t[sel][:, None]
        integrand = -np.expm1(-k * np.log1p(p[None, :] * tt / rt)) / p[None, :]
        out[sel] = integrand @ node_weights / norm
    return out


def _expected_if_alive(
    shape: FloatArray, rate: FloatArray, a: float, b_post: FloatArray, t: FloatArray
) -> FloatArray:
    shape, rate, b_post, t = (
        np.ascontiguousarray(v, dtype=np.float64) for v in np.broadcast_arrays(shape, rate, b_post, t)
    )
    if abs(a - 1.0) < 1e-4:
        flat = _expected_if_alive_quadrature(shape.ravel(), rate.ravel(), a, b_post.ravel(), t.ravel())
        return flat.reshape(shape.shape)
    closed = _expected_if_alive_closed_form(shape, rate, a, b_post, t)
    # Sanity bound: visits in t cannot be negative nor exceed the posterior-mean Poisson count
    # (dropout only removes visits), so anything outside [0, shape * t / rate] is numerical error.
    upper = shape * t / rate
    bad = ~np.isfinite(closed) | (closed < -1e-9) | (closed > upper * (1.0 + 1e-6) + 1e-9)
    if np.any(bad):
        closed = closed.copy()
        closed[bad] = _expected_if_alive_quadrature(shape[bad], rate[bad], a, b_post[bad], t[bad])
    return np.clip(closed, 0.0, None)


def expected_transactions(
    params: BgNbdParams, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """E[visits in (T, T + t] | x, t_x, T] (FHL 2005, eq. 10): P(alive) times the expectation for an
    active customer under the posterior Gamma(r + x, alpha + T) x Beta(a, b + x)."""
    t_arr, x, t_x, t_obs = _as_float_arrays(t, frequency, recency, T)
    alive = probability_alive(params, x, t_x, t_obs)
    if_alive = _expected_if_alive(params.r + x, params.alpha + t_obs, params.a, params.b + x, t_arr)
    return np.asarray(alive * if_alive, dtype=np.float64)


def expected_transactions_unconditional(params: BgNbdParams, t: ArrayLike) -> FloatArray:
    """E[X(t)]: expected repeat visits in the first t time units of a new customer (FHL 2005, eq. 9)."""
    t_arr = np.asarray(t, dtype=np.float64)
    ones = np.ones_like(t_arr)
    return _expected_if_alive(params.r * ones, params.alpha * ones, params.a, params.b * ones, t_arr)


def expected_interval_if_alive(params: BgNbdParams, frequency: ArrayLike, T: ArrayLike) -> FloatArray:
    """Posterior mean time between visits of an active customer, 1 / E[lam | x, T] = (alpha+T)/(r+x).

    Used as the model-based waiting time when a customer has too few visits for an empirical rhythm.
    """
    x, t_obs = _as_float_arrays(frequency, T)
    return np.asarray((params.alpha + t_obs) / (params.r + x), dtype=np.float64)


def choose_params(
    fit: BgNbdFit | None, *, repeat_customers: int
) -> tuple[BgNbdParams, Literal["fitted", "priors"]]:
    """Apply the documented fallback rule (see MIN_REPEAT_CUSTOMERS)."""
    if fit is not None and fit.converged and repeat_customers >= MIN_REPEAT_CUSTOMERS:
        return fit.params, "fitted"
    return DEFAULT_PRIORS, "priors"
