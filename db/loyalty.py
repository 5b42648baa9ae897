"""Loyalty ledger reads."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlmodel import Session, col

from db.engine import core_connection
from db.tables import LoyaltyLedger

# Built once: a decision reads it, and building the statement cost more than running it.
_LIFETIME_EARNED = (
    select(col(LoyaltyLedger.customer_id), func.sum(LoyaltyLedger.delta))
    .where(col(LoyaltyLedger.customer_id).in_(bindparam("customer_ids", expanding=True)),
           col(LoyaltyLedger.delta) > 0)
    .group_by(col(LoyaltyLedger.customer_id))
)


def lifetime_points_earned(session: Session, customer_ids: Iterable[int]) -> dict[int, int]:
    """Points ever credited (the sum of positive ledger entries) by customer id, one query per 500 customers; a customer
    without credits is absent (callers then fall back to the balance: core.tiers)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    connection = core_connection(session)
    rows: list[Any] = []
    for start in range(0, len(ids), 500):  # a campaign asks for thousands at once
        rows.extend(connection.execute(_LIFETIME_EARNED, {"customer_ids": ids[start : start + 500]}))
    return {int(customer_id): int(total) for customer_id, total in rows if total is not None}
