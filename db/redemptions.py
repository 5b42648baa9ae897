"""Codes used at the till: each code a sale carries is recorded once, with what it came to.

- `redeemed`: one of our promo codes, not expired when the sale happened, used for the first time. The
  code's `redeemed_at` is set with a compare-and-set on `redeemed_at IS NULL`, so a code is redeemed once
  whatever the number of sales, events or workers presenting it.
- `already_redeemed`: ours, but an earlier sale redeemed it.
- `expired`: ours, presented after its `expires_at` (not marked redeemed).
- `foreign`: not a code of ours (the POS's own discounts, a mistyped code).

One row per (sale, code): recording the same sale twice records nothing new. Redemptions are tracked the
same way for real-time offers and campaigns: both hand out `promo_code` rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlmodel import Session, col, select

from db.tables import PromoCode, PromoRedemption

REDEEMED = "redeemed"
ALREADY_REDEEMED = "already_redeemed"
EXPIRED = "expired"
FOREIGN = "foreign"
OUTCOMES: tuple[str, ...] = (REDEEMED, ALREADY_REDEEMED, EXPIRED, FOREIGN)


@dataclass(frozen=True)
class TillCode:
    """One discount line of a sale: the code as presented and the amount it took off."""

    code: str
    amount_cents: int


def record_till_codes(
    session: Session,
    *,
    merchant_id: str,
    transaction_id: int,
    customer_id: int | None,
    codes: Sequence[TillCode],
    at: datetime,
) -> dict[str, str]:
    """Record every code of one sale (once per sale and code); returns code -> outcome of this call's
    rows (empty when the sale's codes were recorded before)."""
    seen: dict[str, TillCode] = {}
    for till in codes:
        seen.setdefault(till.code, till)
    if not seen:
        return {}
    recorded = set(
        session.exec(
            select(PromoRedemption.code).where(
                col(PromoRedemption.transaction_id) == transaction_id, col(PromoRedemption.code).in_(sorted(seen))
            )
        ).all()
    )
    ours = {
        row.code: row
        for row in session.exec(
            select(PromoCode).where(col(PromoCode.merchant_id) == merchant_id, col(PromoCode.code).in_(sorted(seen)))
        ).all()
    }
    outcomes: dict[str, str] = {}
    for code, till in sorted(seen.items()):
        if code in recorded:
            continue
        promo = ours.get(code)
        outcome = FOREIGN if promo is None else _redeem(session, promo, at)
        session.add(
            PromoRedemption(
                merchant_id=merchant_id,
                transaction_id=transaction_id,
                customer_id=customer_id,
                code=code,
                outcome=outcome,
                promo_code_id=promo.id if promo is not None else None,
                amount_cents=till.amount_cents,
                occurred_at=at,
            )
        )
        outcomes[code] = outcome
    session.flush()
    return outcomes


def _redeem(session: Session, promo: PromoCode, at: datetime) -> str:
    if promo.expires_at is not None and at > promo.expires_at:
        return EXPIRED
    result = cast(
        CursorResult[Any],
        session.execute(
            update(PromoCode)
            .where(col(PromoCode.id) == promo.id, col(PromoCode.redeemed_at).is_(None))
            .values(redeemed_at=at)
        ),
    )
    return REDEEMED if result.rowcount == 1 else ALREADY_REDEEMED
