"""Customer profile summary for store associates and managers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel
from sqlmodel import Session, col, or_, select

from api.deps import AgentDep, AssociateOrManager, SessionDep, SettingsDep
from db.tables import Customer, CustomerContact
from profiles.features import ProfileFeatures

router = APIRouter(prefix="/customers", tags=["customers"])


class ContactOut(BaseModel):
    given_name: str | None
    family_name: str | None
    email: str | None
    phone: str | None
    notes: str | None


class CustomerOut(BaseModel):
    customer: str | None  # pseudonym; None for associates, who must not learn the pseudonym <-> POS id link
    pos_customer_id: str
    tier: str
    points: int
    allergies: list[str] | None
    allergies_known: bool
    consents: dict[str, bool]
    opted_out: bool
    age_verified: bool
    birthday_month: int | None
    favourites: list[dict[str, Any]]
    favourite_categories: list[str]
    visit_rhythm: str | None
    typical_interval_days: float | None
    next_visit_expected_at: datetime | None
    days_since_last_visit: float | None
    churn_risk: float | None
    p_alive: float | None
    lifecycle: str | None
    visits_12m: int
    spend_12m: float
    clv_12m: float | None
    contact: ContactOut | None = None


def _find(session: Session, ref: str, merchant_id: str, *, by_pseudonym: bool = True) -> Customer:
    """By POS id, or (unless `by_pseudonym` is False: associates) by pseudonym."""
    match = or_(col(Customer.pos_customer_id) == ref, col(Customer.pseudonym) == ref) if by_pseudonym else (
        col(Customer.pos_customer_id) == ref
    )
    customer = session.exec(select(Customer).where(col(Customer.merchant_id) == merchant_id, match)).first()
    if customer is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no customer {ref!r}")
    return customer


def customer_out(customer: Customer, features: ProfileFeatures | None, contact: CustomerContact | None) -> CustomerOut:
    rhythm = None
    if features and features.median_interval_days:
        rhythm = f"visits about every {round(features.median_interval_days)} days"
        if features.favourite_item_rhythm:
            r = features.favourite_item_rhythm
            rhythm += f"; orders {r.name} about every {round(r.median_interval_days)} days"
    return CustomerOut(
        customer=customer.pseudonym,
        pos_customer_id=customer.pos_customer_id,
        tier=customer.tier,
        points=customer.points,
        allergies=customer.allergies,
        allergies_known=customer.allergies is not None,
        consents={
            "sms": customer.consent_sms,
            "email": customer.consent_email,
            "alcohol_marketing": customer.consent_alcohol_marketing,
        },
        opted_out=customer.opted_out_at is not None,
        age_verified=customer.age_verified,
        birthday_month=customer.birthday.month if customer.birthday else None,
        favourites=[
            {"sku": f.sku, "name": f.name, "visits": f.visits} for f in (features.favourite_items if features else [])
        ],
        favourite_categories=[c.name for c in features.favourite_categories] if features else [],
        visit_rhythm=rhythm,
        typical_interval_days=features.median_interval_days if features else None,
        next_visit_expected_at=features.expected_next_visit_at if features else None,
        days_since_last_visit=round(features.days_since_last_visit, 1) if features else None,
        churn_risk=round(features.churn_risk, 3) if features else None,
        p_alive=round(features.p_alive, 3) if features else None,
        lifecycle=features.lifecycle if features else None,
        visits_12m=features.visits_12m if features else 0,
        spend_12m=(features.spend_12m_cents / 100) if features else 0.0,
        clv_12m=(features.clv_12m_cents / 100) if features else None,
        contact=ContactOut(
            given_name=contact.given_name,
            family_name=contact.family_name,
            email=contact.email,
            phone=contact.phone,
            notes=contact.notes,
        )
        if contact
        else None,
    )


@router.get("/{customer_id}", response_model=CustomerOut, response_model_exclude_none=False)
def read_customer(
    customer_id: str, key: AssociateOrManager, settings: SettingsDep, session: SessionDep, agent: AgentDep
) -> CustomerOut:
    """Profile summary; contact PII only for managers. (Sync: features are computed in the thread pool.)

    Associates address guests by POS id only and never see the pseudonym, so they cannot link the two."""
    manager = key.role in ("manager", "admin")
    customer = _find(session, customer_id, settings.default_merchant_id, by_pseudonym=manager)
    assert customer.id is not None
    features = agent.profile_features(merchant_id=customer.merchant_id, customer_id=customer.id)
    contact = session.get(CustomerContact, customer.id) if manager else None
    out = customer_out(customer, features, contact)
    return out if manager else out.model_copy(update={"customer": None})
