"""Per-merchant model fitting and visit loading from the database.

Visits are loaded with ONE query (transactions outer-joined to their lines, the catalog and the
location), ordered by customer and time, and grouped in Python: no N+1 whatever the base size.
Queries run as Core statements in the session's transaction after the session's autoflush, so a
transaction added to the same session but not yet committed is part of the customer's history on the
per-transaction path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import and_, bindparam, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from db.engine import core_connection
from db.tables import CatalogItem, Location, PosTransaction, TransactionLine
from profiles.bgnbd import MIN_REPEAT_CUSTOMERS, choose_params, fit_bgnbd
from profiles.features import ProfileFeatures, compute_features
from profiles.merchant_model import DEFAULT_MEAN_TICKET_CENTS, MerchantModel
from profiles.spend import DEFAULT_GROSS_MARGIN, choose_spend_params, fit_gamma_gamma
from profiles.visits import Visit, VisitLine, visit_summary

# Margins outside this band mean the catalog costs are wrong or missing, not that the merchant is
# giving food away or printing money; use the default then.
_PLAUSIBLE_MARGIN = (0.05, 0.95)


def _visits_query() -> Any:
    txn, line, item, loc = PosTransaction, TransactionLine, CatalogItem, Location
    # sqlmodel's select() is typed for at most four columns; SQLAlchemy's takes any number.
    return (
        sa_select(
            col(txn.id),
            col(txn.customer_id),
            col(txn.occurred_at),
            col(txn.total_cents),
            col(txn.location_id),
            col(loc.timezone),
            col(line.sku),
            col(line.name),
            col(item.category),
            col(item.subcategory),
            col(line.quantity),
            col(line.unit_price_cents),
            col(item.contains_alcohol),
        )
        .join(loc, col(loc.id) == col(txn.location_id))
        .outerjoin(line, col(line.transaction_id) == col(txn.id))
        .outerjoin(item, and_(col(item.merchant_id) == col(txn.merchant_id), col(item.sku) == col(line.sku)))
        .order_by(col(txn.customer_id), col(txn.occurred_at), col(txn.id), col(line.id))
    )


# The per-transaction path's statement, built once (building it costs more than running it).
_CUSTOMER_VISITS = _visits_query().where(col(PosTransaction.customer_id) == bindparam("customer_id"))


def _group_rows(rows: Any) -> dict[int, list[Visit]]:
    """Rows ordered by (customer, time, transaction, line) -> visits per customer."""
    out: dict[int, list[Visit]] = {}
    current_txn: int | None = None
    lines: list[VisitLine] = []
    head: tuple[Any, ...] | None = None

    def flush() -> None:
        if head is None:
            return
        txn_id, customer_id, occurred_at, total_cents, location_id, timezone = head
        out.setdefault(customer_id, []).append(
            Visit(
                occurred_at=occurred_at,
                total_cents=total_cents,
                lines=tuple(lines),
                timezone=timezone,
                transaction_id=txn_id,
                location_id=location_id,
            )
        )

    for (txn_id, customer_id, occurred_at, total_cents, location_id, timezone,
         sku, name, category, subcategory, quantity, unit_price_cents, contains_alcohol) in rows:
        if txn_id != current_txn:
            flush()
            head = (txn_id, customer_id, occurred_at, total_cents, location_id, timezone)
            current_txn, lines = txn_id, []
        if sku is not None:
            lines.append(VisitLine(sku, name, category, subcategory, quantity, unit_price_cents, contains_alcohol))
    flush()
    return out


def load_all_visits(session: Session, *, merchant_id: str) -> dict[int, list[Visit]]:
    """Every identified customer's visits of a merchant, oldest first (one query)."""
    stmt = _visits_query().where(
        col(PosTransaction.merchant_id) == merchant_id, col(PosTransaction.customer_id).is_not(None)
    )
    return _group_rows(core_connection(session).execute(stmt))


def load_visits(session: Session, *, customer_id: int) -> list[Visit]:
    """One customer's visits, oldest first (one query); the per-transaction profile update path."""
    # One guest's rows are few: fetched at once (the driver's fetchall) rather than row by row.
    rows = core_connection(session).execute(_CUSTOMER_VISITS, {"customer_id": customer_id}).all()
    return _group_rows(rows).get(customer_id, [])


def load_visits_for(session: Session, *, customer_ids: Sequence[int]) -> dict[int, list[Visit]]:
    """These customers' visits, oldest first (one query per 500 customers); a campaign's batch path."""
    out: dict[int, list[Visit]] = {}
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), 500):
        stmt = _visits_query().where(col(PosTransaction.customer_id).in_(ids[start : start + 500]))
        out.update(_group_rows(core_connection(session).execute(stmt)))
    return out


def gross_margin(session: Session, *, merchant_id: str) -> float:
    """Realised gross margin of the merchant's sold lines: 1 - catalog cost / price paid."""
    txn, line, item = PosTransaction, TransactionLine, CatalogItem
    stmt = (
        select(
            func.sum(col(line.quantity) * col(line.unit_price_cents)),
            func.sum(col(line.quantity) * col(item.unit_cost_cents)),
        )
        .select_from(line)
        .join(txn, col(txn.id) == col(line.transaction_id))
        .join(item, and_(col(item.merchant_id) == col(txn.merchant_id), col(item.sku) == col(line.sku)))
        .where(col(txn.merchant_id) == merchant_id)
    )
    revenue, cost = session.exec(stmt).one()
    if not revenue or cost is None:
        return DEFAULT_GROSS_MARGIN
    margin = 1.0 - float(cost) / float(revenue)
    low, high = _PLAUSIBLE_MARGIN
    return margin if low <= margin <= high else DEFAULT_GROSS_MARGIN


def fit_model_from_visits(
    visits_by_customer: Mapping[int, Sequence[Visit]],
    *,
    now: datetime,
    margin: float = DEFAULT_GROSS_MARGIN,
) -> MerchantModel:
    """Fit BG/NBD (days) and Gamma-Gamma (cents) on a merchant's visits, applying the fallback rules:
    BG/NBD is fitted only with >= MIN_REPEAT_CUSTOMERS repeat customers and a converged fit, else
    DEFAULT_PRIORS; Gamma-Gamma only with >= spend.MIN_SPEND_CUSTOMERS multi-visit customers, else
    priors centred on the merchant's own average ticket."""
    summaries = [s for visits in visits_by_customer.values() if (s := visit_summary(visits, now=now)) is not None]
    if not summaries:
        return MerchantModel(gross_margin=margin)
    x = np.array([s.frequency for s in summaries])
    t_x = np.array([s.recency_days for s in summaries])
    t_obs = np.array([s.age_days for s in summaries])
    n = np.array([s.visits for s in summaries], dtype=np.float64)
    mean_ticket = np.array([s.mean_ticket_cents for s in summaries])
    repeaters = int((x > 0).sum())

    fit = fit_bgnbd(x, t_x, t_obs) if repeaters >= MIN_REPEAT_CUSTOMERS else None
    params, source = choose_params(fit, repeat_customers=repeaters)
    # Population average ticket per visit (not per customer), the natural prior mean.
    merchant_mean_ticket = float((mean_ticket * n).sum() / n.sum()) if n.sum() else DEFAULT_MEAN_TICKET_CENTS
    spend, spend_source = choose_spend_params(
        fit_gamma_gamma(n, mean_ticket), mean_ticket_cents=merchant_mean_ticket
    )
    return MerchantModel(
        bgnbd=params,
        source=source,
        spend=spend,
        spend_source=spend_source,
        gross_margin=margin,
        customers=len(summaries),
        repeat_customers=repeaters,
        log_likelihood=fit.log_likelihood if fit is not None and source == "fitted" else None,
    )


def fit_merchant_model(session: Session, *, merchant_id: str, now: datetime | None = None) -> MerchantModel:
    """Load a merchant's visits and fit its model (`source` says "fitted" or "priors")."""
    at = now if now is not None else datetime.now(UTC)
    visits = load_all_visits(session, merchant_id=merchant_id)
    return fit_model_from_visits(visits, now=at, margin=gross_margin(session, merchant_id=merchant_id))


def customer_features(
    session: Session,
    *,
    customer_id: int,
    model: MerchantModel,
    now: datetime | None = None,
) -> ProfileFeatures | None:
    """The per-transaction path: one query for the customer's history, then `compute_features`.

    The merchant model is fitted in batch (e.g. nightly) and passed in; it is not refitted here.
    """
    visits = load_visits(session, customer_id=customer_id)
    return compute_features(visits, model=model, now=now, customer_id=customer_id)
