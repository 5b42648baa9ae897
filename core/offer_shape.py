"""Offer shape: what each offer type needs to be executable, in one place beside `OfferDraft`.

The `structure` guardrail judges a draft against the merchant's whole catalog; a drafter checks its
own draft against the catalog it was shown (the model's repair turn). Both call these functions, so
a rule about an offer's shape is written once. Policy (margin, allergens, consent...) is not here.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.schemas import CatalogFact, OfferDraft, OfferType

ITEM_OFFER_TYPES: frozenset[OfferType] = frozenset({"percent_off_item", "amount_off_item", "free_item"})
PERCENT_OFFER_TYPES: frozenset[OfferType] = frozenset({"percent_off_item", "percent_off_category"})


def shape_problems(offer: OfferDraft) -> list[str]:
    """Fields the offer's type requires, present and above zero (no catalog needed)."""
    if not offer.make_offer:
        return []
    kind = offer.offer_type
    if kind is None:
        return ["make_offer is true but offer_type is missing"]
    problems: list[str] = []
    if kind in ITEM_OFFER_TYPES and not offer.sku:
        problems.append(f"{kind} needs a sku")
    if kind == "percent_off_category" and not offer.category:
        problems.append("percent_off_category needs a category")
    if kind in PERCENT_OFFER_TYPES and not offer.discount_pct:
        problems.append(f"{kind} needs a discount_pct above 0")
    if kind == "amount_off_item" and not offer.discount_cents:
        problems.append("amount_off_item needs discount_cents above 0")
    if kind == "bonus_points" and not offer.bonus_points:
        problems.append("bonus_points needs bonus_points above 0")
    return problems


def target_items(offer: OfferDraft, catalog: Mapping[str, CatalogFact]) -> list[CatalogFact]:
    """Active items of `catalog` the offer can be redeemed on (empty for points or unresolved offers).
    A category offer covers every active item of its category: a promo code cannot exclude items."""
    if offer.offer_type in ITEM_OFFER_TYPES:
        item = catalog.get(offer.sku or "")
        return [item] if item is not None and item.active else []
    if offer.offer_type == "percent_off_category":
        return [item for item in catalog.values() if item.active and item.category == offer.category]
    return []


def target_problems(
    offer: OfferDraft, catalog: Mapping[str, CatalogFact], *, catalog_name: str = "catalog"
) -> list[str]:
    """What is wrong with the offer's target in `catalog`: an unknown or inactive sku, an item without a
    positive price, a category with no active item or with an unpriced one."""
    if not offer.make_offer:
        return []
    kind = offer.offer_type
    problems: list[str] = []
    if kind in ITEM_OFFER_TYPES and offer.sku:
        item = catalog.get(offer.sku)
        if item is None:
            problems.append(f"sku {offer.sku!r} is not in the {catalog_name}")
        elif not item.active:
            problems.append(f"sku {offer.sku!r} is not active")
        elif item.price_cents <= 0:
            problems.append(f"sku {offer.sku!r} has no positive price")
    if kind == "percent_off_category" and offer.category:
        items = target_items(offer, catalog)
        if not items:
            problems.append(f"category {offer.category!r} has no active {catalog_name} items")
        elif any(item.price_cents <= 0 for item in items):
            problems.append(f"category {offer.category!r} has an item without a positive price")
    return problems


def channel_copy_problems(offer: OfferDraft) -> list[str]:
    """The copy the chosen channel sends must be there."""
    if not offer.make_offer:
        return []
    if offer.channel == "sms":
        return [] if (offer.sms_text or "").strip() else ["sms channel without sms_text"]
    problems = []
    if not (offer.email_subject or "").strip():
        problems.append("email channel without email_subject")
    if not (offer.email_body or "").strip():
        problems.append("email channel without email_body")
    return problems
