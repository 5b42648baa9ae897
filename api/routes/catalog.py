"""The merchant's catalog. Unit costs and margins only for roles that set prices."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import AnyRole, SessionDep, SettingsDep
from db.crud import list_catalog

router = APIRouter(prefix="/catalog", tags=["catalog"])


class CatalogItemOut(BaseModel):
    sku: str
    name: str
    category: str
    subcategory: str | None
    price: float
    allergens: list[str]
    contains_alcohol: bool
    unit_cost: float | None = None
    margin_pct: float | None = None


@router.get("", response_model=list[CatalogItemOut], response_model_exclude_none=True)
def read_catalog(session: SessionDep, settings: SettingsDep, key: AnyRole) -> list[CatalogItemOut]:
    show_costs = key.role in ("manager", "admin", "marketer")
    out = []
    for item in list_catalog(session, merchant_id=settings.default_merchant_id):
        row = CatalogItemOut(sku=item.sku, name=item.name, category=item.category, subcategory=item.subcategory,
                             price=item.price_cents / 100, allergens=item.allergens,
                             contains_alcohol=item.contains_alcohol)
        if show_costs:
            row.unit_cost = item.unit_cost_cents / 100
            row.margin_pct = round(100 * (1 - item.unit_cost_cents / item.price_cents), 1) if item.price_cents else None
        out.append(row)
    return out
