"""What a marketer asks for: the campaign's definition, validated before anything is planned (422 with a
reason otherwise). Unknown fields are refused, so a typo never silently widens an audience."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from guardrails.campaign_policy import CampaignKind, TierTrigger
from profiles.feature_families import Lifecycle

Channel = Literal["sms", "email", "auto"]
MAX_QUERY_AUDIENCE = 5000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AudienceRule(_Strict):
    """Filters on the guest's profile, applied before the kind's own eligibility; each narrows the audience.
    `days_before`, `churn_risk_min` and `trigger` tune the kind's trigger instead of the policy default."""

    tiers: list[Literal["member", "silver", "gold", "vip"]] | None = Field(default=None, max_length=4)
    lifecycle: list[Lifecycle] | None = Field(default=None, max_length=5)
    min_visits_12m: int | None = Field(default=None, ge=0, le=365)
    location_ids: list[str] | None = Field(default=None, max_length=50, description="Home locations.")
    days_before: int | None = Field(default=None, ge=1, le=14, description="next_visit only.")
    churn_risk_min: float | None = Field(default=None, ge=0, le=1, description="win_back only.")
    trigger: TierTrigger | None = Field(default=None, description="tier only (default milestone).")


class Audience(_Strict):
    """Exactly one of: `query` (semantic segment search, e.g. "salmon lovers") or `rule`."""

    query: str | None = Field(default=None, min_length=2, max_length=500)
    limit: int = Field(default=1000, ge=1, le=MAX_QUERY_AUDIENCE, description="Query audiences: most matches.")
    rule: AudienceRule | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Audience:
        if (self.query is None) == (self.rule is None):
            raise ValueError("give exactly one of `query` or `rule`")
        return self

    @property
    def filters(self) -> AudienceRule:
        return self.rule or AudienceRule()


class CampaignSpec(_Strict):
    """`POST /campaigns` body (and, field by field, `PATCH /campaigns/{id}`)."""

    name: str = Field(min_length=1, max_length=200)
    kind: CampaignKind
    audience: Audience
    holdout_pct: float | None = Field(default=None, ge=0, le=50, description="Default: the policy's.")
    channel: Channel = "auto"
    send_at: AwareDatetime | None = None
    window_days: int | None = Field(default=None, ge=1, le=90, description="Report window; default: the policy's.")

    @model_validator(mode="after")
    def _rule_fits_kind(self) -> CampaignSpec:
        rule = self.audience.rule
        if rule is None:
            return self
        misplaced = [
            name for name, kind in (("days_before", "next_visit"), ("churn_risk_min", "win_back"), ("trigger", "tier"))
            if getattr(rule, name) is not None and self.kind != kind
        ]
        if misplaced:
            raise ValueError(f"audience.rule.{misplaced[0]} does not apply to a {self.kind} campaign")
        return self


class CampaignChanges(_Strict):
    """`PATCH /campaigns/{id}`: the fields to change (any change after approval resets it)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: CampaignKind | None = None
    audience: Audience | None = None
    holdout_pct: float | None = Field(default=None, ge=0, le=50)
    channel: Channel | None = None
    send_at: AwareDatetime | None = None
    window_days: int | None = Field(default=None, ge=1, le=90)
