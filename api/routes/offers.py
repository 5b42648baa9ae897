"""Drafted offers: list, inspect (verdicts + audit trail), review. Pseudonymous customer reference only."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlalchemy import or_
from sqlmodel import Session, col, select

from agent.review import EDITABLE_FIELDS, ReviewConflict, ReviewError, ReviewForbidden
from api.deps import AgentDep, EngineDep, MarketerOrManager, SessionDep, SettingsDep
from db import offers
from db.tables import AuditEvent, Customer, Offer

router = APIRouter(prefix="/offers", tags=["offers"])


class AuditOut(BaseModel):
    node: str
    actor: str
    at: datetime
    outputs: dict[str, Any]
    model: str | None = None
    prompt_version: str | None = None
    inputs_digest: str | None = None


class OfferOut(BaseModel):
    id: str
    status: str
    customer: str = Field(description="Pseudonymous customer reference.")
    event_id: str | None
    trigger: str
    offer_type: str
    sku: str | None
    category: str | None
    discount_pct: float | None
    discount_cents: int | None
    bonus_points: int | None
    expires_in_days: int | None
    channel: str
    sms_text: str | None
    email_subject: str | None
    email_body: str | None
    rationale: str | None
    confidence: float | None
    model: str | None
    prompt_version: str | None
    fallback_reason: str | None
    verdict: str | None
    verdicts: list[dict[str, Any]]
    promo_code: str | None
    expires_at: datetime | None
    scheduled_for: datetime | None
    decided_by: str | None
    reviewed_by_marketer: str | None
    created_at: datetime
    updated_at: datetime
    audit: list[AuditOut] | None = None


def offer_out(offer: Offer, pseudonym: str, audit: list[AuditEvent] | None = None) -> OfferOut:
    return OfferOut(
        id=offer.id,
        status=offer.status,
        customer=pseudonym,
        event_id=offer.event_id,
        trigger=offer.trigger,
        offer_type=offer.offer_type,
        sku=offer.sku,
        category=offer.category,
        discount_pct=offer.discount_pct,
        discount_cents=offer.discount_cents,
        bonus_points=offer.bonus_points,
        expires_in_days=offer.expires_in_days,
        channel=offer.channel,
        sms_text=offer.sms_text,
        email_subject=offer.email_subject,
        email_body=offer.email_body,
        rationale=offer.rationale,
        confidence=offer.confidence,
        model=offer.model,
        prompt_version=offer.prompt_version,
        fallback_reason=offer.fallback_reason,
        verdict=offer.verdict,
        verdicts=offer.verdicts,
        promo_code=offer.promo_code,
        expires_at=offer.expires_at,
        scheduled_for=offer.scheduled_for,
        decided_by=offer.decided_by,
        reviewed_by_marketer=offer.reviewed_by_marketer,
        created_at=offer.created_at,
        updated_at=offer.updated_at,
        audit=None
        if audit is None
        else [
            AuditOut(
                node=a.node,
                actor=a.actor,
                at=a.created_at,
                outputs=a.outputs,
                model=a.model,
                prompt_version=a.prompt_version,
                inputs_digest=a.inputs_digest,
            )
            for a in audit
        ],
    )


def _load(session: Session, offer_id: str) -> tuple[Offer, str]:
    offer = session.get(Offer, offer_id)
    if offer is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no offer {offer_id!r}")
    customer = session.get(Customer, offer.customer_id)
    return offer, customer.pseudonym if customer else "unknown"


def _audit_trail(session: Session, offer: Offer) -> list[AuditEvent]:
    cond = col(AuditEvent.offer_id) == offer.id
    if offer.event_id:
        cond = or_(cond, col(AuditEvent.correlation_id) == offer.event_id)
    return list(session.exec(select(AuditEvent).where(cond).order_by(col(AuditEvent.id))).all())


@router.get("", response_model=list[OfferOut], response_model_exclude_none=True)
def list_offers(
    session: SessionDep,
    _key: MarketerOrManager,
    status_: str | None = Query(default=None, alias="status", description="Filter by status."),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=1_000_000),
) -> list[OfferOut]:
    if status_ is not None and status_ not in offers.OFFER_STATUSES:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"status must be one of {list(offers.OFFER_STATUSES)}"
        )
    query = select(Offer, Customer.pseudonym).join(Customer, col(Customer.id) == col(Offer.customer_id))
    if status_:
        query = query.where(col(Offer.status) == status_)
    rows = session.exec(query.order_by(col(Offer.created_at).desc()).offset(offset).limit(limit)).all()
    return [offer_out(offer, pseudonym) for offer, pseudonym in rows]


@router.get("/{offer_id}", response_model=OfferOut)
def read_offer(offer_id: str, session: SessionDep, _key: MarketerOrManager) -> OfferOut:
    offer, pseudonym = _load(session, offer_id)
    return offer_out(offer, pseudonym, _audit_trail(session, offer))


class ReviewIn(BaseModel):
    action: Literal["accept", "edit", "reject"]
    edits: dict[str, Any] = Field(
        default_factory=dict,
        max_length=len(EDITABLE_FIELDS),
        description="Only with action `edit`: field -> new value; marketers change copy fields only.",
    )
    note: str | None = Field(default=None, max_length=2000)


@router.post("/{offer_id}/review", response_model=OfferOut)
def review_offer(
    offer_id: str, body: ReviewIn, key: MarketerOrManager, settings: SettingsDep, engine: EngineDep, agent: AgentDep
) -> OfferOut:
    """Managers accept, edit or reject; marketers may edit copy and reject. Every edit is validated before
    anything is claimed and re-checked by the guardrails; a marketer's edit returns to the queue for a
    manager. Accepted offers are re-checked against the guest as they are now before anything executes.
    (Sync: the graph resumes in the thread pool.)"""
    with Session(engine) as session:
        _load(session, offer_id)  # 404 before anything else
    decision = {"action": body.action, "edits": body.edits, "note": body.note, "reviewer": key.id, "role": key.role}
    try:
        agent.review(offer_id, decision)
    except ReviewForbidden as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
    except ReviewError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except ReviewConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    with Session(engine) as session:
        offer, pseudonym = _load(session, offer_id)
        return offer_out(offer, pseudonym, _audit_trail(session, offer))
