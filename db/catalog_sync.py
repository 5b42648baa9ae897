"""Writing a POS's catalog and locations into ours (any POS; tools.pos.square_catalog maps Square's).

What the POS knows (names, prices, categories, alcohol, ingredients) replaces ours; what it does not
know is kept or stays unknown, and unknown is never read as safe:
- cost: POSs carry no food cost. A known cost (below the price) is kept. An item without one gets
  its price as cost, a zero margin, so the margin rule blocks every discount on it until a real cost
  is set: the sync reports those skus.
- allergens: when the POS lists no ingredients, an existing row keeps the allergens we have; a new
  row gets `unknown_allergens` (the policy's major allergens: "may contain"), so it is never offered
  to a guest with an allergy, or whose allergies are unknown, on the strength of a blank field.
- items the POS no longer lists are deactivated, never deleted (past sales and offers name them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlmodel import Session, col

from db.tables import CatalogItem, Location, Merchant


@dataclass(frozen=True)
class CatalogEntry:
    """One sellable item as the POS describes it. `allergens` None = the POS does not say."""

    sku: str
    name: str
    category: str
    price_cents: int
    subcategory: str | None = None
    allergens: tuple[str, ...] | None = None
    contains_alcohol: bool = False
    active: bool = True
    description: str | None = None


@dataclass(frozen=True)
class LocationEntry:
    id: str
    name: str
    timezone: str | None


@dataclass
class CatalogSyncResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    unknown_cost: list[str] = field(default_factory=list)  # active skus without a cost below their price
    unknown_allergens: list[str] = field(default_factory=list)  # new skus marked "may contain"


def cost_is_known(item: CatalogItem) -> bool:
    return 0 <= item.unit_cost_cents < item.price_cents


def ensure_merchant(session: Session, *, merchant_id: str, name: str, currency: str) -> Merchant:
    merchant = session.get(Merchant, merchant_id)
    if merchant is None:
        merchant = Merchant(id=merchant_id, name=name, currency=currency)
        session.add(merchant)
        session.flush()
    return merchant


def apply_locations(session: Session, *, merchant_id: str, locations: Sequence[LocationEntry]) -> int:
    """Create or rename the merchant's locations; a location's alcohol policy is ours and is kept."""
    changed = 0
    for entry in locations:
        row = session.get(Location, entry.id)
        if row is None:
            row = Location(id=entry.id, merchant_id=merchant_id, name=entry.name,
                           timezone=entry.timezone or "America/New_York")
        elif row.merchant_id != merchant_id:
            raise ValueError(f"location {entry.id!r} belongs to merchant {row.merchant_id!r}, not {merchant_id!r}")
        elif (row.name, row.timezone) == (entry.name, entry.timezone or row.timezone):
            continue
        else:
            row.name, row.timezone = entry.name, entry.timezone or row.timezone
        session.add(row)
        changed += 1
    session.flush()
    return changed


def apply_catalog(session: Session, *, merchant_id: str, entries: Sequence[CatalogEntry],
                  unknown_allergens: Sequence[str]) -> CatalogSyncResult:
    """Upsert `entries` by sku and deactivate the merchant's items the POS no longer lists.

    An empty listing changes nothing (more likely a permission or paging problem than an empty menu).
    """
    result = CatalogSyncResult()
    if not entries:
        return result
    existing = {item.sku: item for item in session.execute(
        select(CatalogItem).where(col(CatalogItem.merchant_id) == merchant_id)).scalars()}
    for entry in {entry.sku: entry for entry in entries}.values():  # one row per sku, the last word wins
        row = existing.pop(entry.sku, None)
        before = None if row is None else row.model_dump()
        if row is None:
            row = CatalogItem(merchant_id=merchant_id, sku=entry.sku, name=entry.name, category=entry.category,
                              price_cents=entry.price_cents, unit_cost_cents=entry.price_cents,
                              allergens=sorted(entry.allergens if entry.allergens is not None else unknown_allergens))
            if entry.allergens is None:
                result.unknown_allergens.append(entry.sku)
        elif entry.allergens is not None:
            row.allergens = sorted(entry.allergens)
        known_cost = row.unit_cost_cents if before is not None and cost_is_known(row) else None
        row.name, row.category, row.subcategory = entry.name, entry.category, entry.subcategory
        row.price_cents, row.contains_alcohol = entry.price_cents, entry.contains_alcohol
        row.active, row.description = entry.active, entry.description
        row.unit_cost_cents = known_cost if known_cost is not None else entry.price_cents
        if not cost_is_known(row) and row.active:
            result.unknown_cost.append(entry.sku)
        if before is None:
            result.created += 1
        elif row.model_dump() != before:
            result.updated += 1
        else:
            result.unchanged += 1
        session.add(row)
    for row in existing.values():
        if row.active:
            row.active = False
            session.add(row)
            result.deactivated += 1
    session.flush()
    return result
