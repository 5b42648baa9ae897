"""What an associate may suggest to this guest today: only items the guest may be offered.

Eligibility is not decided here. It comes from the guardrails' own filters, evaluated on a
`GuardrailContext` for this guest: `forbidden_allergen_items` (recorded allergies; with allergies
unknown, every top-9 allergen item unless the policy allows them) and `alcohol_ineligibility`
(age verification, legal age by birthday, alcohol-marketing opt-in, location and merchant policy).
This module only ranks what passes both:
1. the guest's usual: their most ordered item that passes;
2. something new: the most ordered item at this restaurant, in the guest's favourite categories,
   that the guest has never had and that passes;
each with the reason an associate can say out loud.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from core.schemas import CatalogFact, CustomerFacts, OfferDraft
from db.tables import PosTransaction, TransactionLine
from guardrails.alcohol import alcohol_ineligibility
from guardrails.context import GuardrailContext
from guardrails.policy import Policy
from profiles.features import ProfileFeatures

MAX_NEW_ITEMS = 2


@dataclass(frozen=True)
class GuestFilters:
    """The guardrails' verdict on what this guest may be offered."""

    forbidden_allergen_skus: frozenset[str]
    alcohol_reasons: tuple[str, ...]

    def allows(self, item: CatalogFact) -> bool:
        if not item.active or item.sku in self.forbidden_allergen_skus:
            return False
        return not (item.contains_alcohol and self.alcohol_reasons)


@dataclass(frozen=True)
class Suggestion:
    item: CatalogFact
    kind: str  # usual | new | popular
    reason: str


def guest_filters(
    facts: CustomerFacts, catalog: dict[str, CatalogFact], *, policy: Policy, now: datetime
) -> GuestFilters:
    """Apply the guardrails' allergen and alcohol filters to this guest (no offer involved)."""
    gctx = GuardrailContext(
        offer=OfferDraft(make_offer=False), customer=facts, catalog=catalog, history=[], policy=policy, now=now
    )
    return GuestFilters(
        forbidden_allergen_skus=frozenset(gctx.forbidden_allergen_items),
        alcohol_reasons=tuple(alcohol_ineligibility(gctx)),
    )


def merchant_popularity(session: Session, *, merchant_id: str) -> dict[str, int]:
    """How many times each sku was ordered at this merchant (all guests, aggregated: no one's data)."""
    rows = session.exec(
        select(TransactionLine.sku, func.count())
        .join(PosTransaction, col(PosTransaction.id) == col(TransactionLine.transaction_id))
        .where(col(PosTransaction.merchant_id) == merchant_id)
        .group_by(col(TransactionLine.sku))
    ).all()
    return {sku: int(n) for sku, n in rows}


def suggest_items(
    *,
    catalog: dict[str, CatalogFact],
    filters: GuestFilters,
    features: ProfileFeatures | None,
    purchased: set[str],
    popularity: Mapping[str, int],
) -> list[Suggestion]:
    """The usual (if it passes) plus up to two new items from the guest's favourite categories."""
    allowed = [item for item in catalog.values() if filters.allows(item)]
    by_popularity = sorted(allowed, key=lambda i: (-popularity.get(i.sku, 0), i.sku))
    out: list[Suggestion] = []
    if features is not None:
        for fav in features.favourite_items:
            item = catalog.get(fav.sku)
            if item is not None and filters.allows(item):
                out.append(
                    Suggestion(item, "usual", f"their usual: ordered on {fav.visits} of {features.visits_total} visits")
                )
                break
        categories: Sequence[tuple[str, float]] = [(c.name, c.share) for c in features.favourite_categories]
    else:
        categories = []
    used_categories = {s.item.category for s in out}
    for category, share in categories:
        if len(out) >= 1 + MAX_NEW_ITEMS:
            break
        if category in used_categories:
            continue
        pick = next((i for i in by_popularity if i.category == category and i.sku not in purchased), None)
        if pick is not None:
            out.append(
                Suggestion(
                    pick,
                    "new",
                    f"never had it; one of the most ordered {category} here, and "
                    f"they order {category} on {share:.0%} of visits",
                )
            )
            used_categories.add(category)
    if not out:
        for item in by_popularity[:3]:
            out.append(Suggestion(item, "popular", "one of the most ordered items here"))
    return out
