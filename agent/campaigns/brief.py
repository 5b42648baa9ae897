"""What a campaign decision is about, injected into the offer graph's state and the drafter's input.

The brief is computed by the campaign's eligibility rules (agent.campaigns.eligibility), never by the
model: the kind and trigger of the outreach, the item a next-visit message is about (chosen from the guest's
rhythm), the channel the campaign is limited to, and whether every message must go to a person.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from guardrails.campaign_policy import CampaignKind, TierTrigger


class CampaignBrief(BaseModel):
    model_config = ConfigDict(frozen=True)

    campaign_id: str
    kind: CampaignKind
    trigger: TierTrigger | None = Field(default=None, description="Tier campaigns: which tier event fired.")
    sku: str | None = Field(default=None, description="Next-visit: the item of the guest's rhythm to offer.")
    channel: Literal["sms", "email"] | None = Field(default=None, description="None: any consented channel.")
    reason: str = Field(default="", max_length=500, description="Why this guest is in the audience.")
    review_required: str | None = Field(
        default=None, description="Set when every message of this kind goes to a person (downgrade notices)."
    )
