"""The merchant policy's `campaigns` section: when each outreach trigger fires, which kinds run without a
manager's approval, the standing global control group, and the report's defaults.

Thresholds are the merchant's, not the drafter's: a campaign's eligibility decides who is contacted; the
drafter then only chooses the item, the discount and the copy (agent.offline_drafter in campaign mode), and
the guardrails judge the result like any other offer.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CampaignKind = Literal["next_visit", "win_back", "birthday", "tier"]
TierTrigger = Literal["milestone", "points_expiring", "downgrade"]
CAMPAIGN_KINDS: tuple[CampaignKind, ...] = ("next_visit", "win_back", "birthday", "tier")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NextVisitPolicy(_Strict):
    """Outreach `days_before` the expected visit, only to guests with a reliable rhythm: at least
    `min_visits` visits and a coefficient of variation of their intervals of at most `max_interval_cv`."""

    days_before: int = Field(default=3, ge=1, le=14)
    min_visits: int = Field(default=4, ge=3, le=100)
    max_interval_cv: float = Field(default=0.35, gt=0, le=2)


class WinBackPolicy(_Strict):
    """Lapsing regulars: churn risk at or above `churn_risk`, at least `min_visits_12m` visits in a year."""

    churn_risk: float = Field(default=0.6, ge=0, le=1)
    min_visits_12m: int = Field(default=4, ge=1, le=365)


class TierPolicy(_Strict):
    """Milestones within `milestone_max_gap_points` of the next tier; points expire after
    `points_expire_after_days` without a visit and the notice goes `points_notice_days` before."""

    milestone_max_gap_points: int = Field(default=200, ge=1)
    points_expire_after_days: int = Field(default=365, ge=30, le=3650)
    points_notice_days: int = Field(default=30, ge=1, le=365)
    min_expiring_points: int = Field(default=100, ge=1)


class CampaignPolicy(_Strict):
    automatic: tuple[CampaignKind, ...] = Field(
        default=(), description="Kinds the worker starts on its own schedule, approved by this policy."
    )
    global_control_pct: float = Field(
        default=0, ge=0, le=50, description="Standing share of guests no campaign ever contacts (0 = none)."
    )
    default_holdout_pct: float = Field(default=10, ge=0, le=50)
    report_window_days: int = Field(default=14, ge=1, le=90)
    min_detectable_effect: float = Field(
        default=0.05, gt=0, le=1, description="Absolute uplift the power calculation is done for."
    )
    next_visit: NextVisitPolicy = NextVisitPolicy()
    win_back: WinBackPolicy = WinBackPolicy()
    tier: TierPolicy = TierPolicy()
