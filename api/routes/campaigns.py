"""Campaigns: create (marketer), change (a change after approval resets it), approve (manager), status and
counts, report. The work happens in agent.campaigns; this router only maps HTTP onto it.

Creating or changing a campaign answers 202: the plan for approval takes minutes on a real merchant, so the
worker computes it (status `planning`, then `pending_approval` with the plan; `planning_failed` with
`plan_error`). The client follows `Location` (GET /campaigns/{id}) until the plan is there."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, HTTPException, Response, status
from pydantic import BaseModel, Field
from sqlmodel import Session

from agent.campaigns import service
from agent.campaigns.spec import CampaignChanges, CampaignSpec
from api.deps import AgentDep, Manager, Marketer, MarketerOrManager, SettingsDep
from db import campaigns as lifecycle
from db.clock import merchant_now
from db.tables import ApiKey, Campaign
from profiles.campaign_report import campaign_report, render_png

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


class CampaignOut(BaseModel):
    id: str
    name: str
    kind: str
    status: str
    version: int
    audience: dict[str, Any]
    holdout_pct: float
    channel: str
    send_at: datetime | None
    window_days: int
    audience_size: int | None = Field(
        description="Eligible guests in the experiment (treatment + holdout), as planned; null until planned.")
    holdout_size: int | None
    treatment_size: int | None
    global_control_size: int | None
    sample_drafts: list[dict[str, Any]] | None = Field(
        description="Real drafts for a few guests, with every verdict; null until planned.")
    estimated_cost: dict[str, Any] | None
    not_eligible: dict[str, int] | None = Field(description="Why candidates were left out (top reasons).")
    planned_at: str | None
    plan_error: str | None = Field(description="Why the plan could not be computed (planning_failed), or why "
                                               "the last attempt failed while another is due (planning).")
    links: dict[str, str] = Field(description="`self`: where to follow the campaign (GET).")
    created_by: str
    approved_by: str | None
    approved_at: datetime | None
    approved_version: int | None
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    counts: dict[str, Any] | None = None


class Approval(BaseModel):
    version: int | None = Field(default=None, ge=1, le=1_000_000, description="The version you reviewed.")


def campaign_out(campaign: Campaign, counts: dict[str, Any] | None = None) -> CampaignOut:
    estimate = campaign.estimate or {}  # {} while planning: every plan field is null
    plan: dict[str, Any] = {name: estimate.get(name) for name in (
        "audience_size", "holdout_size", "treatment_size", "global_control_size", "sample_drafts", "estimated_cost",
        "not_eligible", "planned_at")}
    return CampaignOut(
        **campaign.model_dump(include={
            "id", "name", "kind", "status", "version", "audience", "holdout_pct", "channel", "send_at", "window_days",
            "created_by", "approved_by", "approved_at", "approved_version", "started_at", "completed_at",
            "created_at", "updated_at", "plan_error"}),
        **plan,
        links={"self": _location(campaign.id)},
        counts=counts,
    )


def _location(campaign_id: str) -> str:
    return f"{router.prefix}/{campaign_id}"


def _who(key: ApiKey) -> str:
    return f"reviewer:{key.id}"


def _http(exc: Exception) -> HTTPException:
    if isinstance(exc, service.CampaignNotFound):
        return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))
    if isinstance(exc, service.CampaignConflict):
        return HTTPException(status.HTTP_409_CONFLICT, str(exc))
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


_ERRORS = (service.CampaignNotFound, service.CampaignConflict, service.CampaignError)


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=CampaignOut)
def create_campaign(spec: CampaignSpec, key: Marketer, agent: AgentDep, settings: SettingsDep,
                    response: Response) -> CampaignOut:
    """Create a campaign to plan for approval (sizes, sample drafts with verdicts, estimated cost): 202 with
    status `planning` and `Location`; the worker computes the plan, then GET shows `pending_approval` and the
    plan. A bad body, or a segment query with nothing to search, is 422 at once. Nothing is sent."""
    try:
        campaign = service.create(agent.ctx, merchant_id=settings.default_merchant_id, spec=spec,
                                  created_by=_who(key))
    except _ERRORS as exc:
        raise _http(exc) from exc
    response.headers["Location"] = _location(campaign.id)
    return campaign_out(campaign)


@router.patch("/{campaign_id}", status_code=status.HTTP_202_ACCEPTED, response_model=CampaignOut)
def change_campaign(campaign_id: str, changes: CampaignChanges, key: MarketerOrManager, agent: AgentDep,
                    settings: SettingsDep, response: Response) -> CampaignOut:
    """Change a campaign not yet running: 202, back to `planning` (the worker re-plans it) and it needs a
    new approval. An empty change re-plans it as it is (after `planning_failed`)."""
    try:
        campaign = service.update(agent.ctx, campaign_id, merchant_id=settings.default_merchant_id,
                                  changes=changes.model_dump(mode="json", exclude_unset=True))
    except _ERRORS as exc:
        raise _http(exc) from exc
    response.headers["Location"] = _location(campaign.id)
    return campaign_out(campaign)


@router.post("/{campaign_id}/approve", response_model=CampaignOut)
def approve_campaign(campaign_id: str, key: Manager, agent: AgentDep, settings: SettingsDep,
                     approval: Approval | None = Body(default=None)) -> CampaignOut:
    """Schedule it: it runs at `send_at` (or the next run) exactly as planned at the approved version. 409
    while it is still `planning` (or `planning_failed`): there is no plan to approve yet."""
    try:
        campaign = service.approve(agent.ctx, campaign_id, merchant_id=settings.default_merchant_id,
                                   approved_by=_who(key), version=approval.version if approval else None)
    except _ERRORS as exc:
        raise _http(exc) from exc
    return campaign_out(campaign)


@router.post("/{campaign_id}/cancel", response_model=CampaignOut)
def cancel_campaign(campaign_id: str, key: Manager, agent: AgentDep, settings: SettingsDep) -> CampaignOut:
    try:
        campaign = service.cancel(agent.ctx, campaign_id, merchant_id=settings.default_merchant_id)
    except _ERRORS as exc:
        raise _http(exc) from exc
    return campaign_out(campaign)


@router.get("/{campaign_id}", response_model=CampaignOut)
def get_campaign(campaign_id: str, key: MarketerOrManager, agent: AgentDep, settings: SettingsDep) -> CampaignOut:
    """Status and counts: drafted, sent, scheduled, blocked by rule, escalated, skipped for fatigue, holdout."""
    try:
        campaign = service.get(agent.ctx, campaign_id, merchant_id=settings.default_merchant_id)
    except _ERRORS as exc:
        raise _http(exc) from exc
    with Session(agent.ctx.engine) as session:
        counts = lifecycle.campaign_counts(session, campaign_id)
    return campaign_out(campaign, counts)


def report_of(agent: AgentDep, settings: SettingsDep, campaign_id: str) -> dict[str, Any]:
    """The campaign's report as of the merchant's clock (404 for another merchant's or no campaign)."""
    try:
        campaign = service.get(agent.ctx, campaign_id, merchant_id=settings.default_merchant_id)
    except _ERRORS as exc:
        raise _http(exc) from exc
    with Session(agent.ctx.engine) as session:
        as_of = merchant_now(session, campaign.merchant_id)
        return campaign_report(session, campaign, as_of=as_of,
                               min_detectable_effect=agent.ctx.policy.campaigns.min_detectable_effect)


@router.get("/{campaign_id}/report")
def get_report(campaign_id: str, key: MarketerOrManager, agent: AgentDep, settings: SettingsDep) -> dict[str, Any]:
    """Per arm: n, redeemed, redemption rate, visits, visit rate, revenue per guest; uplift with a 95 %
    Newcombe interval and relative lift; power (underpowered flag); sample-ratio-mismatch check."""
    return report_of(agent, settings, campaign_id)


@router.get("/{campaign_id}/report.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "cumulative visits and redemptions"}})
def get_report_png(campaign_id: str, key: MarketerOrManager, agent: AgentDep, settings: SettingsDep) -> Response:
    """Cumulative share of guests who came back and who redeemed, treatment against holdout, by day."""
    return Response(render_png(report_of(agent, settings, campaign_id)), media_type="image/png",
                    headers={"Cache-Control": "no-store"})
