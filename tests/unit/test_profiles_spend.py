"""Gamma-Gamma spend per visit, priors and CLV."""

from __future__ import annotations

import numpy as np
import pytest

from profiles.spend import (
    PRIOR_P,
    PRIOR_Q,
    GammaGammaParams,
    _log_likelihood,
    choose_spend_params,
    clv_cents,
    expected_spend_per_visit,
    fit_gamma_gamma,
    spend_priors,
)


def _simulate(params: GammaGammaParams, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    visits = rng.integers(2, 15, size=n)
    nu = rng.gamma(shape=params.q, scale=1.0 / params.gamma, size=n)
    means = np.array([rng.gamma(shape=params.p, scale=1.0 / v, size=k).mean() for v, k in zip(nu, visits, strict=True)])
    return visits.astype(float), means


def test_fit_recovers_population_mean_and_shrinkage() -> None:
    truth = GammaGammaParams(p=6.0, q=5.0, gamma=3000.0)  # population mean 4500 cents
    visits, means = _simulate(truth, 3000, np.random.default_rng(11))
    fitted = fit_gamma_gamma(visits, means)
    assert fitted is not None
    assert fitted.population_mean == pytest.approx(truth.population_mean, rel=0.1)
    # Only per-customer means are observed, so p is weakly identified: check the optimum instead.
    scale = means.mean()
    at_truth = _log_likelihood(np.log([truth.p, truth.q, truth.gamma / scale]), visits, means / scale).sum()
    at_fit = _log_likelihood(np.log([fitted.p, fitted.q, fitted.gamma / scale]), visits, means / scale).sum()
    assert at_fit >= at_truth


def test_too_few_customers_falls_back_to_priors_centred_on_merchant_mean() -> None:
    assert fit_gamma_gamma([3, 4, 5], [4000, 5000, 6000]) is None
    params, source = choose_spend_params(None, mean_ticket_cents=5200)
    assert source == "priors"
    assert (params.p, params.q) == (PRIOR_P, PRIOR_Q)
    assert params.population_mean == pytest.approx(5200)


def test_posterior_spend_shrinks_towards_population_and_fades_with_visits() -> None:
    prior = spend_priors(5000)
    one, many = expected_spend_per_visit(prior, [1.0, 30.0], [20000.0, 20000.0])
    assert 5000 < one < many < 20000
    # Weight on own mean = p x / (p x + q - 1).
    assert one == pytest.approx((6 * 20000 + 3 * 5000) / 9)
    assert expected_spend_per_visit(prior, 0.0, 0.0) == pytest.approx(5000)


def test_clv_is_visits_times_spend_times_margin() -> None:
    assert clv_cents(4.0, 5000.0, gross_margin=0.6) == pytest.approx(12000.0)
