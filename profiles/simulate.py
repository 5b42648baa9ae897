"""Draw customers from the BG/NBD process: for tests (parameter recovery) and benchmarks (visit
histories of realistic shape at any scale). Not used on the serving path."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from numpy.typing import ArrayLike, NDArray

from profiles.bgnbd import DEFAULT_PRIORS, BgNbdParams
from profiles.visits import Visit, VisitLine

# A small restaurant menu: (sku, name, category, subcategory, quantity, unit_price_cents, alcohol).
BENCH_MENU: tuple[VisitLine, ...] = (
    VisitLine("SALMON", "Grilled Salmon", "mains", None, 1, 2400, False),
    VisitLine("STEAK", "Ribeye Steak", "mains", None, 1, 3200, False),
    VisitLine("RISOTTO", "Mushroom Risotto", "mains", None, 1, 1900, False),
    VisitLine("CAESAR", "Caesar Salad", "starters", None, 1, 1200, False),
    VisitLine("CALAMARI", "Fried Calamari", "starters", None, 1, 1400, False),
    VisitLine("TIRAMISU", "Tiramisu", "desserts", None, 1, 900, False),
    VisitLine("LAVA", "Chocolate Lava Cake", "desserts", None, 1, 1000, False),
    VisitLine("MERLOT", "House Merlot", "drinks", "wine", 1, 1100, True),
    VisitLine("IPA", "Local IPA", "drinks", "beer", 1, 800, True),
    VisitLine("MIMOSA", "Mimosa", "drinks", "cocktail", 1, 1000, True),
    VisitLine("LATTE", "Latte", "drinks", "coffee", 1, 500, False),
    VisitLine("BENEDICT", "Eggs Benedict", "brunch", None, 1, 1600, False),
    VisitLine("PANCAKES", "Kids Pancakes", "kids", None, 1, 800, False),
)


def simulate_visit_times(params: BgNbdParams, T: ArrayLike, rng: np.random.Generator) -> list[NDArray[np.float64]]:
    """Per customer, the times of repeat visits in (0, T] after a first visit at time 0.

    lam ~ Gamma(r, rate alpha); p ~ Beta(a, b); visits are Poisson(lam) while alive; after each repeat
    visit the customer drops out with probability p (the BG/NBD story; no dropout at time 0).
    """
    t_obs = np.asarray(T, dtype=np.float64)
    lam = rng.gamma(shape=params.r, scale=1.0 / params.alpha, size=t_obs.shape)
    p = rng.beta(params.a, params.b, size=t_obs.shape)
    out: list[NDArray[np.float64]] = []
    for lam_i, p_i, horizon in zip(lam, p, t_obs, strict=True):
        # Visits until dropout: geometric count; their times: cumulative exponential gaps.
        max_visits = int(rng.geometric(p_i)) if p_i > 0 else 10**6
        expected = lam_i * horizon
        draw = int(min(max_visits, expected + 10.0 * np.sqrt(expected + 1.0) + 10.0))
        times = np.cumsum(rng.exponential(1.0 / lam_i, size=draw)) if draw > 0 else np.empty(0)
        out.append(times[times <= horizon])
    return out


def simulate_bgnbd(
    params: BgNbdParams, T: ArrayLike, rng: np.random.Generator
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(frequency, recency, T) summaries of simulated customers."""
    t_obs = np.asarray(T, dtype=np.float64)
    histories = simulate_visit_times(params, t_obs, rng)
    frequency = np.array([len(h) for h in histories], dtype=np.float64)
    recency = np.array([h[-1] if len(h) else 0.0 for h in histories], dtype=np.float64)
    return frequency, recency, t_obs


def simulate_customer_visits(
    n_customers: int,
    *,
    now: datetime,
    rng: np.random.Generator,
    params: BgNbdParams = DEFAULT_PRIORS,
    history_days: float = 730.0,
    lines_per_visit: int = 3,
    timezone: str = "America/New_York",
) -> dict[int, list[Visit]]:
    """Visit histories for benchmarks: first visits uniform over the history window, repeat visits from
    the BG/NBD process (params in days), each visit a few random lines of BENCH_MENU between 16:00 and
    23:59 UTC (lunch to dinner in New York). Customer ids are 0..n-1."""
    first = rng.uniform(0.0, history_days, size=n_customers)
    repeats = simulate_visit_times(params, history_days - first, rng)
    start = now - timedelta(days=history_days)
    out: dict[int, list[Visit]] = {}
    for customer_id, (first_day, later) in enumerate(zip(first, repeats, strict=True)):
        visits = []
        for day in (first_day, *(first_day + later)):
            picks = rng.integers(0, len(BENCH_MENU), size=lines_per_visit)
            lines = [BENCH_MENU[int(j)] for j in picks]
            at = start + timedelta(days=float(day))
            at = at.replace(hour=int(rng.integers(16, 24)))
            if at > now:
                continue
            visits.append(Visit(at, sum(line.unit_price_cents for line in lines), lines, timezone))
        out[customer_id] = visits
    return out
