"""Everything one guardrail evaluation looks at, plus the offer arithmetic every rule shares.

The context is built by the agent (or by a reviewer's edit) from catalog facts, customer facts and
offer history; nothing in it comes from the model except `offer`, which is treated as untrusted.
Values derived from it (the items an offer covers, its worst-case value, the planned send time)
are computed once per evaluation and cached on the instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from functools import cached_property

from core.allergens import normalize_allergen, normalize_allergens
from core.offer_shape import target_items
from core.schemas import (
    CatalogFact,
    CustomerFacts,
    GuardrailResult,
    OfferDraft,
    OfferHistoryEntry,
    Verdict,
)
from guardrails.local_time import customer_zone, next_allowed_send_time
from guardrails.policy import Policy


@dataclass(frozen=True)
class GuardrailContext:
    """Inputs of one evaluation. `now` must be timezone-aware (UTC preferred)."""

    offer: OfferDraft
    customer: CustomerFacts
    catalog: dict[str, CatalogFact]
    history: list[OfferHistoryEntry]
    policy: Policy
    now: datetime
    # Contact values the caller knows for this customer (names, email, phone), used only to prove
    # that none of them appears verbatim in the copy. Optional: regexes catch the generic shapes.
    known_pii_values: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("GuardrailContext.now must be timezone-aware")

    @cached_property
    def now_utc(self) -> datetime:
        return self.now.astimezone(UTC)

    @cached_property
    def target_items(self) -> list[CatalogFact]:
        """Active catalog items the offer can be redeemed on (empty for points or unresolved offers)."""
        return target_items(self.offer, self.catalog)

    @cached_property
    def offer_value_cents(self) -> Fraction:
        """Worst-case value of the offer to the guest, exact (see module docstring of discount.py)."""
        offer = self.offer
        items = self.target_items
        if offer.offer_type == "bonus_points":
            points = offer.bonus_points or 0
            return Fraction(points) * Fraction(self.policy.point_value_cents)
        if not items:
            return Fraction(0)
        if offer.offer_type == "amount_off_item":
            return Fraction(min(offer.discount_cents or 0, items[0].price_cents))
        if offer.offer_type == "free_item":
            return Fraction(items[0].price_cents)
        pct = Fraction(offer.discount_pct or 0)
        return max(Fraction(item.price_cents) * pct / 100 for item in items)

    @cached_property
    def customer_allergies(self) -> frozenset[str] | None:
        allergies = self.customer.allergies
        if allergies is None:
            return None
        return normalize_allergens(allergies)

    @cached_property
    def top9(self) -> frozenset[str]:
        return normalize_allergens(self.policy.top9_allergens)

    @cached_property
    def customer_timezone(self) -> tuple[str, bool]:
        """(IANA zone used, whether it is the customer's own zone rather than the policy default)."""
        return customer_zone(self.customer.timezone, self.policy.quiet_hours.default_timezone)

    @cached_property
    def send_at(self) -> datetime:
        """When the message would go out: now, or the end of quiet hours in the customer's zone."""
        return next_allowed_send_time(self.now_utc, self.customer_timezone[0], self.policy.quiet_hours)

    @cached_property
    def forbidden_allergen_items(self) -> dict[str, CatalogFact]:
        """Catalog items this customer must not be offered or told about because of allergens.

        Known allergies: every item sharing one of them. Unknown allergies: every item with a
        top-9 allergen, unless the policy allows offers on those.
        """
        allergies = self.customer_allergies
        if allergies is None:
            if self.policy.allow_unknown_allergy_offers_on_top9:
                return {}
            avoid = self.top9
        else:
            avoid = allergies
        if not avoid:
            return {}
        return {
            sku: item
            for sku, item in self.catalog.items()
            if any(normalize_allergen(a) in avoid for a in item.allergens)
        }


def result(rule: str, verdict: Verdict, reason: str, **evidence: object) -> GuardrailResult:
    """Build one rule's verdict (keyword evidence keeps call sites short)."""
    return GuardrailResult(rule=rule, verdict=verdict, reason=reason, evidence=dict(evidence))


def not_applicable(rule: str, reason: str) -> GuardrailResult:
    """A pass that says the rule had nothing to check; `escalate` overrides skip these."""
    return GuardrailResult(rule=rule, verdict="pass", reason=reason, evidence={"applicable": False})
