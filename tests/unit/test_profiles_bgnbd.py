"""BG/NBD: likelihood, expectations, parameter recovery and the priors fallback."""

from __future__ import annotations

import numpy as np
import pytest

from profiles.bgnbd import (
    DEFAULT_PRIORS,
    MIN_REPEAT_CUSTOMERS,
    BgNbdFit,
    BgNbdParams,
    _expected_if_alive_closed_form,
    _expected_if_alive_quadrature,
    choose_params,
    expected_transactions,
    expected_transactions_unconditional,
    fit_bgnbd,
    log_likelihood_per_customer,
    probability_alive,
)
from profiles.simulate import simulate_bgnbd

CDNOW = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)


def test_closed_form_and_quadrature_agree() -> None:
    rng = np.random.default_rng(7)
    n = 200
    x = rng.integers(0, 20, size=n).astype(float)
    t_obs = rng.uniform(1, 60, size=n)
    t = rng.uniform(1, 80, size=n)
    for params in (CDNOW, BgNbdParams(r=2.0, alpha=10.0, a=3.0, b=5.0)):
        shape, rate, b_post = params.r + x, params.alpha + t_obs, params.b + x
        closed = _expected_if_alive_closed_form(shape, rate, params.a, b_post, t)
        quad = _expected_if_alive_quadrature(shape, rate, params.a, b_post, t)
        np.testing.assert_allclose(closed, quad, rtol=1e-6)


def test_expectation_at_a_equal_one_is_finite_and_continuous() -> None:
    """a == 1 makes the closed form 0/0; the quadrature path must give the limit."""
    args = (3.0, 5.0, 10.0, 20.0)  # frequency, recency, T, horizon
    at_one = expected_transactions(BgNbdParams(0.5, 5.0, 1.0, 2.0), args[3], *args[:3])
    near = expected_transactions(BgNbdParams(0.5, 5.0, 1.0 + 1e-4, 2.0), args[3], *args[:3])
    assert np.isfinite(at_one) and at_one > 0
    assert at_one == pytest.approx(near, rel=1e-3)


def test_conditional_expectation_of_a_brand_new_customer_is_the_unconditional_one() -> None:
    t = np.array([1.0, 10.0, 52.0, 200.0])
    unconditional = expected_transactions_unconditional(CDNOW, t)
    conditional = expected_transactions(CDNOW, t, 0.0, 0.0, 0.0)
    np.testing.assert_allclose(conditional, unconditional, rtol=1e-9)
    assert np.all(np.diff(unconditional) > 0)


def test_expected_transactions_grows_with_frequency_and_horizon() -> None:
    x = np.array([0.0, 1.0, 3.0, 8.0])
    short = expected_transactions(CDNOW, 10.0, x, np.where(x > 0, 30.0, 0.0), 35.0)
    long = expected_transactions(CDNOW, 40.0, x, np.where(x > 0, 30.0, 0.0), 35.0)
    assert np.all(np.diff(short) > 0)
    assert np.all(long > short)


def test_p_alive_falls_with_longer_absence_for_a_frequent_buyer() -> None:
    # 10 repeat visits in the first 20 weeks, then silence for longer and longer.
    absence = np.array([0.0, 2.0, 5.0, 10.0, 20.0, 40.0])
    alive = probability_alive(CDNOW, 10.0, 20.0, 20.0 + absence)
    assert alive[0] > 0.9  # not 1: the dropout may have happened right after the last visit
    assert np.all(np.diff(alive) < 0)
    assert alive[-1] < 0.05


def test_p_alive_is_one_without_repeat_visits_and_in_unit_interval() -> None:
    assert probability_alive(CDNOW, 0.0, 0.0, 50.0) == 1.0
    rng = np.random.default_rng(3)
    x = rng.integers(1, 30, size=500).astype(float)
    t_obs = rng.uniform(1, 100, size=500)
    t_x = rng.uniform(0, 1, size=500) * t_obs
    alive = probability_alive(CDNOW, x, t_x, t_obs)
    assert np.all((alive > 0) & (alive <= 1))


def test_log_likelihood_is_finite_for_extreme_customers() -> None:
    ll = log_likelihood_per_customer(CDNOW, [0.0, 1.0, 300.0], [0.0, 0.1, 99.0], [100.0, 100.0, 100.0])
    # A density in recency (continuous time), so individual values may exceed 0; they must be finite.
    assert np.all(np.isfinite(ll))


def test_fit_recovers_simulated_parameters() -> None:
    truth = BgNbdParams(r=0.8, alpha=20.0, a=0.9, b=4.0)
    rng = np.random.default_rng(42)
    T = rng.uniform(200, 700, size=6000)  # days of history, like a restaurant with staggered sign-ups
    x, t_x, t_obs = simulate_bgnbd(truth, T, rng)
    fit = fit_bgnbd(x, t_x, t_obs)
    assert fit.converged
    assert fit.n == 6000
    got = fit.params
    # Mean visit rate and mean dropout probability are well identified; the shapes less so.
    assert got.r / got.alpha == pytest.approx(truth.r / truth.alpha, rel=0.15)
    assert got.a / (got.a + got.b) == pytest.approx(truth.a / (truth.a + truth.b), rel=0.3)
    assert got.r == pytest.approx(truth.r, rel=0.3)
    truth_ll = float(log_likelihood_per_customer(truth, x, t_x, t_obs).sum())
    assert fit.log_likelihood >= truth_ll - 1e-6


def test_weights_are_equivalent_to_repeated_rows() -> None:
    rng = np.random.default_rng(5)
    x, t_x, t_obs = simulate_bgnbd(CDNOW, np.full(150, 39.0), rng)
    weights = rng.integers(1, 5, size=150)
    weighted = fit_bgnbd(x, t_x, t_obs, weights=weights)
    repeated = fit_bgnbd(np.repeat(x, weights), np.repeat(t_x, weights), np.repeat(t_obs, weights))
    assert weighted.log_likelihood == pytest.approx(repeated.log_likelihood, rel=1e-6)
    assert weighted.n == repeated.n == int(weights.sum())


@pytest.mark.parametrize(
    ("frequency", "recency", "T"),
    [([-1.0], [0.0], [1.0]), ([1.0], [5.0], [4.0]), ([0.0], [2.0], [4.0])],
)
def test_fit_refuses_inconsistent_inputs(frequency: list[float], recency: list[float], T: list[float]) -> None:
    with pytest.raises(ValueError):
        fit_bgnbd(frequency, recency, T)


def test_priors_fallback_rule() -> None:
    fitted = BgNbdFit(params=CDNOW, log_likelihood=-100.0, n=1000)
    assert choose_params(fitted, repeat_customers=MIN_REPEAT_CUSTOMERS) == (CDNOW, "fitted")
    assert choose_params(fitted, repeat_customers=MIN_REPEAT_CUSTOMERS - 1) == (DEFAULT_PRIORS, "priors")
    assert choose_params(None, repeat_customers=10_000) == (DEFAULT_PRIORS, "priors")
    not_converged = BgNbdFit(params=CDNOW, log_likelihood=-100.0, n=1000, converged=False)
    assert choose_params(not_converged, repeat_customers=10_000) == (DEFAULT_PRIORS, "priors")


def test_default_priors_describe_a_plausible_restaurant() -> None:
    """Documented intent of the priors: about one visit every 40 days while active, ~15% dropout per
    visit, and a monthly regular who has been silent for four months is more likely gone than not."""
    p = DEFAULT_PRIORS
    assert 30 <= p.alpha / p.r <= 50
    assert p.a / (p.a + p.b) == pytest.approx(0.15)
    monthly_regular = probability_alive(p, 12.0, 360.0, 360.0 + np.array([10.0, 120.0]))
    assert monthly_regular[0] > 0.9 > 0.5 > monthly_regular[1]
