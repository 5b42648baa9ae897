"""Campaign eval cases (evals/campaigns/cases.yaml): guests, a campaign, and what must happen to each guest."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

CASES_FILE = Path(__file__).with_name("cases.yaml")
Category = Literal["eligibility", "fatigue", "holdout", "quiet_hours", "review"]
Expectation = Literal["sent", "escalated", "blocked", "no_offer", "skipped_fatigue", "ineligible_at_send",
                      "not_in_audience", "holdout"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VisitRun(_Strict):
    """`count` visits `every_days` apart (or on explicit `days_ago`), the last `last_days_ago` before the clock."""

    count: int = Field(default=1, ge=1)
    every_days: float = 14
    last_days_ago: float = 1
    days_ago: list[float] | None = None
    items: list[str] = Field(default_factory=lambda: ["SALMON-ENTREE"])

    def offsets(self) -> list[float]:
        if self.days_ago is not None:
            return sorted(self.days_ago, reverse=True)
        return [self.last_days_ago + k * self.every_days for k in range(self.count)][::-1]


class PriorOffer(_Strict):
    days_ago: float
    trigger: Literal["transaction", "campaign"] = "transaction"
    channel: Literal["sms", "email"] = "sms"
    status: Literal["sent", "pending_review"] = "sent"


class Guest(_Strict):
    name: str
    visits: list[VisitRun] = Field(default_factory=list)
    sms: bool = True
    email: bool = False
    phone: bool = True  # a phone number on file
    opted_out: bool = False
    tier: str = "member"
    points: int = 0
    birthday: date | None = None
    allergies: list[str] | None = Field(default_factory=list)
    timezone: str = "America/New_York"
    prior_offers: list[PriorOffer] = Field(default_factory=list)
    copies: int = Field(default=1, ge=1, le=200, description="identical guests (holdout cases)")
    expect: Expectation | None = None


class Review(_Strict):
    guest: str
    role: Literal["manager", "marketer"]
    expect: Literal["sent", "refused"]


class CampaignDef(_Strict):
    kind: Literal["next_visit", "win_back", "birthday", "tier"]
    rule: dict[str, Any] = Field(default_factory=dict)
    holdout_pct: float = 0
    channel: Literal["sms", "email", "auto"] = "auto"


class CampaignCase(_Strict):
    id: str
    category: Category
    description: str
    clock: AwareDatetime = datetime.fromisoformat("2026-11-01T15:00:00+00:00")
    campaign: CampaignDef
    guests: list[Guest]
    quiet_hours: bool = False  # every message must be scheduled outside the guest's quiet hours
    expect_both_arms: bool = False  # the split put guests in both arms
    review: Review | None = None
    sale_after_hours: float | None = Field(
        default=None, description="a sale by the first guest this long after the run: its real-time decision "
                                  "must not message them again (fatigue is shared)")

    @model_validator(mode="after")
    def _names(self) -> CampaignCase:
        names = [g.name for g in self.guests]
        if len(set(names)) != len(names):
            raise ValueError("guest names must be unique")
        if self.review is not None and self.review.guest not in names:
            raise ValueError(f"review names unknown guest {self.review.guest!r}")
        return self


def load_cases(path: Path = CASES_FILE) -> list[CampaignCase]:
    return [CampaignCase.model_validate(raw) for raw in yaml.safe_load(path.read_text(encoding="utf-8"))]
