"""Loyalty ledger reads."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func
from sqlmodel import Session, col, select

from db.tables import LoyaltyLedger


def lifetime_points_earned(session: Session, customer_ids: Iterable[int]) -> dict[int, int]:
    """Points ever credited (the sum of positive ledger entries) by customer id, in one query; a customer
    without credits is absent (callers then fall back to the balance: core.tiers)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    rows = session.exec(
        select(LoyaltyLedger.customer_id, func.sum(LoyaltyLedger.delta))
        .where(col(LoyaltyLedger.customer_id).in_(ids), col(LoyaltyLedger.delta) > 0)
        .group_by(col(LoyaltyLedger.customer_id))
    ).all()
    return {int(customer_id): int(total) for customer_id, total in rows if total is not None}
