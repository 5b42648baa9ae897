"""profiles.fit against a real (migrated) database: visit loading without N+1, fitting vs priors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import event, insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

from db.tables import CatalogItem, Customer, Location, Merchant, PosTransaction, TransactionLine
from profiles.bgnbd import DEFAULT_PRIORS, BgNbdParams
from profiles.features import compute_features
from profiles.fit import fit_merchant_model, gross_margin, load_all_visits, load_visits
from profiles.simulate import simulate_visit_times

NOW = datetime(2026, 1, 15, 12, tzinfo=UTC)
MERCHANT = "m_test"
MENU = [
    # sku, name, category, subcategory, price, cost, alcohol
    ("SALMON", "Grilled Salmon", "mains", None, 2400, 800, False),
    ("MERLOT", "House Merlot", "drinks", "wine", 1100, 300, True),
    ("TIRAMISU", "Tiramisu", "desserts", None, 900, 250, False),
]


@contextmanager
def count_queries(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def seed(engine: Engine, visit_days: list[list[float]]) -> list[int]:
    """One customer per entry, visiting at the given day offsets (from a start 400 days before NOW)."""
    start = NOW - timedelta(days=400)
    with Session(engine) as session:
        # No ORM relationships between the tables, so flush parents before children.
        session.add_all([Merchant(id=MERCHANT, name="Test Bistro"), Merchant(id="m_other", name="Other")])
        session.flush()
        session.add(Location(id="loc_1", merchant_id=MERCHANT, name="Main", timezone="America/Los_Angeles"))
        session.add(Location(id="loc_o", merchant_id="m_other", name="Other"))
        session.flush()
        for sku, name, category, sub, price, cost, alcohol in MENU:
            session.add(
                CatalogItem(
                    merchant_id=MERCHANT, sku=sku, name=name, category=category, subcategory=sub,
                    price_cents=price, unit_cost_cents=cost, contains_alcohol=alcohol,
                )
            )
        customers = [
            Customer(merchant_id=MERCHANT, pos_customer_id=f"c{i}", pseudonym=f"g_{i:06d}")
            for i in range(len(visit_days))
        ]
        session.add_all(customers)
        session.flush()
        ids = [c.id for c in customers if c.id is not None]
        txns: list[dict[str, Any]] = []
        lines: list[dict[str, Any]] = []
        for customer_id, days in zip(ids, visit_days, strict=True):
            for day in days:
                txn_id = len(txns) + 1
                # 19:00 local dinner; the line set alternates so favourites are deterministic.
                at = (start + timedelta(days=day)).replace(hour=3)  # 19:00 or 20:00 in Los Angeles
                picked = MENU[:2] if txn_id % 2 else MENU
                txns.append(
                    {"id": txn_id, "merchant_id": MERCHANT, "location_id": "loc_1", "pos_transaction_id": f"t{txn_id}",
                     "customer_id": customer_id, "occurred_at": at, "total_cents": sum(m[4] for m in picked),
                     "created_at": NOW}
                )
                lines.extend(
                    {"transaction_id": txn_id, "sku": m[0], "name": m[1], "quantity": 1, "unit_price_cents": m[4]}
                    for m in picked
                )
        # A transaction without lines (an hour after the first customer's first dinner: same local day)
        # and one of another merchant must not break anything.
        txns.append({"id": len(txns) + 1, "merchant_id": MERCHANT, "location_id": "loc_1",
                     "pos_transaction_id": "empty", "customer_id": ids[0], "occurred_at": start.replace(hour=4),
                     "total_cents": 0, "created_at": NOW})
        txns.append({"id": len(txns) + 1, "merchant_id": "m_other", "location_id": "loc_o", "pos_transaction_id": "x",
                     "customer_id": None, "occurred_at": start, "total_cents": 100, "created_at": NOW})
        session.execute(insert(PosTransaction), txns)
        if lines:
            session.execute(insert(TransactionLine), lines)
        session.commit()
        return ids


def test_load_visits_one_query_and_features(engine: Engine) -> None:
    ids = seed(engine, [[0.0, 21.0, 42.0, 63.0], [10.0], [5.0, 300.0]])
    with Session(engine) as session, count_queries(engine) as queries:
        everyone = load_all_visits(session, merchant_id=MERCHANT)
        one = load_visits(session, customer_id=ids[0])
    assert len(queries) == 2
    assert set(everyone) == set(ids)
    assert [len(everyone[i]) for i in ids] == [5, 1, 2]
    assert [v.transaction_id for v in one] == [v.transaction_id for v in everyone[ids[0]]]
    first = one[0]
    assert first.timezone == "America/Los_Angeles" and first.occurred_at.tzinfo is not None
    assert {line.sku for line in first.lines} <= {m[0] for m in MENU}
    assert one[1].lines == ()  # the empty transaction
    merlot = next(line for line in first.lines if line.sku == "MERLOT")
    assert merlot.category == "drinks" and merlot.subcategory == "wine" and merlot.contains_alcohol is True

    f = compute_features(one, now=NOW, customer_id=ids[0])
    assert f is not None
    assert f.transactions_total == 5 and f.visits_total == 4  # the empty one merges into the first dinner
    assert f.alcohol_share == 1.0 and f.median_interval_days == 21.0
    assert f.top_day_part == "dinner"


def test_small_merchant_gets_priors(engine: Engine) -> None:
    seed(engine, [[0.0, 30.0], [5.0, 50.0, 90.0], [100.0]])
    with Session(engine) as session:
        model = fit_merchant_model(session, merchant_id=MERCHANT, now=NOW)
        margin = gross_margin(session, merchant_id=MERCHANT)
    assert model.source == "priors" and model.bgnbd == DEFAULT_PRIORS
    assert model.spend_source == "priors"
    assert model.customers == 3 and model.repeat_customers == 2
    assert model.log_likelihood is None
    assert 0.6 < margin < 0.8 and model.gross_margin == margin


@pytest.mark.slow
def test_merchant_with_enough_history_is_fitted(engine: Engine) -> None:
    truth = BgNbdParams(r=1.2, alpha=25.0, a=0.6, b=3.0)
    rng = np.random.default_rng(3)
    first = rng.uniform(0, 250, size=500)
    histories = simulate_visit_times(truth, 400.0 - first, rng)
    seed(engine, [[f, *(f + h)] for f, h in zip(first, histories, strict=True)])
    with Session(engine) as session:
        model = fit_merchant_model(session, merchant_id=MERCHANT, now=NOW)
    assert model.source == "fitted" and model.repeat_customers >= 200
    assert model.log_likelihood is not None
    # Visits are day-merged and time-stamped to the hour, so allow a loose match on the mean rate.
    assert model.bgnbd.r / model.bgnbd.alpha == pytest.approx(truth.r / truth.alpha, rel=0.25)
