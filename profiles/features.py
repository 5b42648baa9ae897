"""Customer features from visit history: favourites, occasions, RFM, rhythm, churn risk and value.

Two entry points, same numbers:
- `compute_features_batch`: a merchant's whole base. Per-customer aggregation is plain Python over
  that customer's visits (counters, medians); the model parts (BG/NBD, Gamma-Gamma) run once as
  numpy arrays over all customers.
- `compute_features`: one customer, called on every transaction. It recomputes from the customer's
  history rather than patching stored aggregates: medians, rhythms and "top" lists are not
  mergeable, a guest's history is small (tens of visits, well under a millisecond), and recomputing
  can never drift from the batch result.

What a visit is (a customer-day in the location's local time, day parts) is defined in
`profiles.visits`; the model-free features, family by family, in `profiles.feature_families`. This
module owns the `ProfileFeatures` type and the model step. Times for the model are in days; BG/NBD
frequency = visits - 1, recency = days from the first to the last visit, T = days from the first
visit to `now`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from profiles.bgnbd import expected_interval_if_alive, expected_transactions, probability_alive
from profiles.feature_families import (
    DEFAULT_RFM,
    Lifecycle,
    RfmThresholds,
    SpendTier,
    is_lapsed,
    lifecycle,
    rhythm_fields,
    taste_fields,
    timing_fields,
    value_fields,
)
from profiles.merchant_model import DEFAULT_MODEL, MerchantModel, ParamSource
from profiles.spend import clv_cents, expected_spend_per_visit
from profiles.visits import DayPart, Visit, VisitSummary, customer_days, days_between, summary_of

EXPECTED_VISITS_HORIZON_DAYS = 90.0
CLV_HORIZON_DAYS = 365.0


class RfmScores(BaseModel):
    recency: int = Field(ge=1, le=5)
    frequency: int = Field(ge=1, le=5)
    monetary: int = Field(ge=1, le=5)

    @property
    def code(self) -> str:
        return f"{self.recency}{self.frequency}{self.monetary}"


class FavouriteItem(BaseModel):
    sku: str
    name: str
    category: str | None = None
    visits: int  # visits on which it was ordered
    quantity: int
    last_ordered_at: datetime


class CategoryShare(BaseModel):
    name: str
    visits: int
    share: float


class Occasion(BaseModel):
    """The most common (weekday, day part) combination, e.g. Sunday brunch (needs >= 3 visits)."""

    weekday: str
    day_part: DayPart
    visits: int
    share: float
    kids_share: float  # share of these visits with kids items


class ItemRhythm(BaseModel):
    sku: str
    name: str
    orders: int  # visits with the item
    median_interval_days: float
    interval_cv: float | None = None  # regularity of the item's intervals (feature_families.interval_cv)
    last_ordered_at: datetime
    next_expected_at: datetime


class ProfileFeatures(BaseModel):
    """Everything the agent, the profile document and the segment search know about a customer's
    behaviour. Contains no contact PII.

    Built by validating one plain dict per customer (nested parts as dicts): pydantic-core then
    creates the nested models in Rust, several times faster than constructing each nested model in
    Python, which matters when the batch path builds 100k of these.
    """

    customer_id: int | None = None
    computed_at: datetime
    model_source: ParamSource

    visits_total: int
    transactions_total: int
    first_visit_at: datetime
    last_visit_at: datetime
    days_since_last_visit: float
    visits_12m: int
    spend_12m_cents: int
    spend_total_cents: int
    avg_spend_cents: int
    expected_spend_per_visit_cents: int
    rfm: RfmScores
    spend_tier: SpendTier

    avg_interval_days: float | None
    median_interval_days: float | None
    interval_cv: float | None = None  # regularity of the visit intervals (None below MIN_RHYTHM_VISITS visits)
    next_visit_due_at: datetime | None  # last visit + median interval (may be in the past)
    next_visit_overdue: bool
    expected_next_visit_at: datetime  # never before computed_at
    next_visit_basis: Literal["rhythm", "model"]

    p_alive: float
    churn_risk: float
    expected_visits_90d: float
    clv_12m_cents: int
    lapsed: bool
    lifecycle: Lifecycle

    favourite_items: list[FavouriteItem]
    favourite_categories: list[CategoryShare]
    drink_preferences: list[CategoryShare]
    favourite_item_rhythm: ItemRhythm | None
    dessert_share: float
    alcohol_share: float
    brunch_share: float
    kids_share: float

    day_part_shares: dict[str, float]
    top_day_part: DayPart
    weekday_shares: dict[str, float]
    weekend_share: float
    top_weekdays: list[str]
    top_occasion: Occasion | None


@dataclass(slots=True)
class _Aggregate:
    """Model-free part of a customer's features, before the vectorised model step."""

    customer_id: int | None
    fields: dict[str, Any]  # ProfileFeatures fields that need no model
    summary: VisitSummary  # BG/NBD and spend inputs


def _aggregate(
    customer_id: int | None, visits: Sequence[Visit], now: datetime, rfm_thresholds: RfmThresholds
) -> _Aggregate | None:
    history = customer_days(visits, now)
    if history is None:
        return None
    days = history.days
    fields: dict[str, Any] = {
        **value_fields(history, now, rfm_thresholds),
        **rhythm_fields(history, now),
        **taste_fields(history),
        **timing_fields(history),
    }
    fields["lapsed"] = is_lapsed(days_between(now, days[-1].started_at), fields["median_interval_days"])
    summary = summary_of(days[0].started_at, days[-1].started_at, len(days), fields["spend_total_cents"], now=now)
    return _Aggregate(customer_id=customer_id, fields=fields, summary=summary)


def _finish(aggregates: list[_Aggregate], model: MerchantModel, now: datetime) -> list[ProfileFeatures]:
    """The vectorised model step: BG/NBD and Gamma-Gamma over all customers at once."""
    if not aggregates:
        return []

    def column(name: str) -> np.ndarray[Any, np.dtype[np.float64]]:
        return np.fromiter((getattr(a.summary, name) for a in aggregates), dtype=np.float64, count=len(aggregates))

    x, t_x, t_obs = column("frequency"), column("recency_days"), column("age_days")
    params = model.bgnbd
    alive = probability_alive(params, x, t_x, t_obs)
    visits_90 = expected_transactions(params, EXPECTED_VISITS_HORIZON_DAYS, x, t_x, t_obs)
    visits_365 = expected_transactions(params, CLV_HORIZON_DAYS, x, t_x, t_obs)
    wait_days = expected_interval_if_alive(params, x, t_obs)
    spend = expected_spend_per_visit(model.spend, column("visits"), column("mean_ticket_cents"))
    clv = clv_cents(visits_365, spend, gross_margin=model.gross_margin)

    out: list[ProfileFeatures] = []
    for i, agg in enumerate(aggregates):
        fields = agg.fields
        due_at = fields["next_visit_due_at"]
        basis: Literal["rhythm", "model"]
        if due_at is not None and due_at >= now:
            expected_next, basis = due_at, "rhythm"
        else:
            expected_next, basis = now + timedelta(days=float(wait_days[i])), "model"
        p_alive = float(alive[i])
        out.append(
            ProfileFeatures(
                customer_id=agg.customer_id,
                computed_at=now,
                model_source=model.source,
                expected_spend_per_visit_cents=round(float(spend[i])),
                expected_next_visit_at=expected_next,
                next_visit_basis=basis,
                p_alive=round(p_alive, 4),
                churn_risk=round(1.0 - p_alive, 4),
                expected_visits_90d=round(float(visits_90[i]), 3),
                clv_12m_cents=round(float(clv[i])),
                lifecycle=lifecycle(
                    lapsed=bool(fields["lapsed"]),
                    visits=agg.summary.visits,
                    p_alive=p_alive,
                    visits_12m=fields["visits_12m"],
                    median_interval=fields["median_interval_days"],
                ),
                **fields,
            )
        )
    return out


def _check_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now


def compute_features_batch(
    visits_by_customer: Mapping[int, Sequence[Visit]],
    *,
    model: MerchantModel = DEFAULT_MODEL,
    now: datetime | None = None,
    rfm_thresholds: RfmThresholds = DEFAULT_RFM,
) -> dict[int, ProfileFeatures]:
    """Features for many customers; customers without visits up to `now` are left out."""
    at = _check_now(now)
    aggregates = [
        agg
        for customer_id, visits in visits_by_customer.items()
        if (agg := _aggregate(customer_id, visits, at, rfm_thresholds)) is not None
    ]
    return {f.customer_id: f for f in _finish(aggregates, model, at) if f.customer_id is not None}


def compute_features(
    visits: Sequence[Visit],
    *,
    model: MerchantModel = DEFAULT_MODEL,
    now: datetime | None = None,
    customer_id: int | None = None,
    rfm_thresholds: RfmThresholds = DEFAULT_RFM,
) -> ProfileFeatures | None:
    """Features for one customer (the per-transaction path); None when there is no visit up to `now`."""
    at = _check_now(now)
    agg = _aggregate(customer_id, visits, at, rfm_thresholds)
    return _finish([agg], model, at)[0] if agg is not None else None
