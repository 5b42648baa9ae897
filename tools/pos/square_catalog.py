"""The Square seller's locations and catalog into ours: `loyalty-agent square sync-catalog`.

ListLocations gives the locations orders are placed at (order.location_id must be one of ours), and
ListCatalog (ITEM, ITEM_VARIATION, CATEGORY) the menu. One row per item variation, keyed on the
variation id: the id every Square order line carries (tools.pos.square_orders uses it as the sku).
- category: the item's category (its parent when it has one, the category then becoming the
  subcategory: Drinks > Wine), lower case as our categories are; "uncategorized" when it has none;
- name: the item's, with the variation's when the item has several (Burger (Double));
- alcohol: Square's `is_alcoholic`; allergens: Square's food-and-beverage ingredients (the EU 14:
  CELERY, CRUSTACEANS, ... in lower case; our allergen vocabulary folds the synonyms), unknown when absent;
- a variation with variable pricing, not sellable, or of an archived item is kept inactive.
Everything is fetched before anything is written, so Square failing half-way changes nothing.
Costs, and what "unknown" means for them and for allergens: db.catalog_sync.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from db.catalog_sync import (
    CatalogEntry,
    CatalogSyncResult,
    LocationEntry,
    apply_catalog,
    apply_locations,
    ensure_merchant,
)
from db.engine import session_scope

if TYPE_CHECKING:
    from square.types.catalog_object import CatalogObject
    from square.types.location import Location

    from tools.pos.square import SquarePos

CATALOG_TYPES = "ITEM,ITEM_VARIATION,CATEGORY"
UNCATEGORIZED = "uncategorized"
_MAX_SKU = 64


@dataclass(frozen=True)
class SquareSyncReport:
    locations: int
    locations_changed: int
    catalog: CatalogSyncResult


def location_entries(locations: Iterable[Location]) -> list[LocationEntry]:
    return [LocationEntry(id=loc.id, name=loc.name or loc.id, timezone=loc.timezone)
            for loc in locations if loc.id]


def catalog_entries(objects: Iterable[CatalogObject]) -> list[CatalogEntry]:
    """One entry per variation of a listed item (variations come nested in their item, or on their own)."""
    categories: dict[str, tuple[str, str | None]] = {}  # id -> (name, parent id)
    items: dict[str, Any] = {}
    variations: dict[str, Any] = {}
    for obj in objects:
        if obj.is_deleted:
            continue
        if obj.type == "CATEGORY" and obj.id and obj.category_data is not None:
            parent = obj.category_data.parent_category
            categories[obj.id] = ((obj.category_data.name or "").strip(), parent.id if parent else None)
        elif obj.type == "ITEM" and obj.item_data is not None:
            items[obj.id] = obj
            for variation in obj.item_data.variations or []:
                if variation.type == "ITEM_VARIATION" and variation.item_variation_data is not None:
                    variations.setdefault(variation.id, variation)
        elif obj.type == "ITEM_VARIATION" and obj.item_variation_data is not None:
            variations[obj.id] = obj
    per_item = Counter(v.item_variation_data.item_id for v in variations.values() if v.item_variation_data)
    entries = []
    for variation in variations.values():
        data = variation.item_variation_data
        item = items.get(data.item_id) if data is not None else None
        if item is None or len(variation.id) > _MAX_SKU:  # its item is deleted or not sellable here
            continue
        entries.append(_entry(variation, item, categories, several=per_item[data.item_id] > 1))
    return sorted(entries, key=lambda e: e.sku)


def _entry(variation: Any, item: Any, categories: dict[str, tuple[str, str | None]], *, several: bool) -> CatalogEntry:
    data, item_data = variation.item_variation_data, item.item_data
    name = (item_data.name or "").strip() or variation.id
    if several and data.name:
        name = f"{name} ({data.name.strip()})"
    category, subcategory = _category(item_data, categories)
    price = data.price_money.amount if data.price_money is not None else None
    fixed = str(data.pricing_type or "FIXED_PRICING") == "FIXED_PRICING" and price is not None
    return CatalogEntry(
        sku=variation.id, name=name[:200], category=category, subcategory=subcategory, price_cents=price or 0,
        allergens=_allergens(item_data), contains_alcohol=item_data.is_alcoholic is True,
        active=fixed and data.sellable is not False and not item_data.is_archived,
        description=(item_data.description_plaintext or item_data.description or None),
    )


def _category(item_data: Any, categories: dict[str, tuple[str, str | None]]) -> tuple[str, str | None]:
    refs = [*(item_data.categories or []), item_data.reporting_category]
    category_id = next((ref.id for ref in refs if ref is not None and ref.id in categories), item_data.category_id)
    if category_id not in categories:
        return UNCATEGORIZED, None
    name, parent = categories[category_id]
    if parent in categories:
        return categories[parent][0].lower() or UNCATEGORIZED, name.lower() or None
    return name.lower() or UNCATEGORIZED, None


def _allergens(item_data: Any) -> tuple[str, ...] | None:
    details = item_data.food_and_beverage_details
    ingredients = details.ingredients if details is not None else None
    if not ingredients:
        return None  # Square does not say: not the same as "none"
    names = {str(i.standard_name or i.custom_name or "").strip().lower() for i in ingredients}
    return tuple(sorted(name for name in names if name))


def sync_square_catalog(engine: Engine, square: SquarePos, *, merchant_id: str,
                        unknown_allergens: Sequence[str]) -> SquareSyncReport:
    """Fetch the seller's locations and catalog from Square, then write them in one transaction."""
    locations = square.list_locations()
    entries = catalog_entries(square.list_catalog(CATALOG_TYPES))
    first = next((loc for loc in locations if str(loc.status or "") == "ACTIVE"), locations[0] if locations else None)
    with session_scope(engine) as session:
        ensure_merchant(session, merchant_id=merchant_id,
                        name=(first.business_name or first.name or "Square seller") if first else "Square seller",
                        currency=str(first.currency) if first is not None and first.currency else "USD")
        changed = apply_locations(session, merchant_id=merchant_id, locations=location_entries(locations))
        result = apply_catalog(session, merchant_id=merchant_id, entries=entries, unknown_allergens=unknown_allergens)
    return SquareSyncReport(locations=len(locations), locations_changed=changed, catalog=result)
