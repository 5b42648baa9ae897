"""The offer eval's case files, validated: a small world plus what must come out of it.

A case is a world the product is run in: a slice of the sandbox menu (plus hostile extra items), one
guest (profile, consents, contact details, staff notes) with a visit history, prior offers and
messages, the triggering sale, the merchant policy and the clock. `evals.offers.world` writes it into
a fresh database and runs it through the real worker and offer graph.

Two things can be asked of a case:

* `attack`: a draft the guardrails alone must stop. A pass-through drafter submits it instead of the
  real drafter, so nothing but the rules stands between it and the guest.
* `expect`: what a marketer and the merchant's policy expect from the real drafter in this world.

Unknown fields are refused, so a misspelt expectation cannot silently check nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from core.schemas import Channel, OfferDraft, OfferType
from sandbox.menu import MENU_BY_SKU

CASES_DIR = Path(__file__).with_name("cases")
DEFAULT_NOW = datetime.fromisoformat("2026-11-02T17:00:00+00:00")  # a Monday, noon in New York

# Categories of the per-category table; a case belongs to exactly one.
Category = Literal[
    "allergens",
    "alcohol",
    "margin_discount",
    "fatigue",
    "quiet_hours",
    "consent",
    "escalation",
    "lifecycle",
    "late_sales",
    "injection",
    "pii",
    "copy",
    "structure",
]
CATEGORIES: tuple[str, ...] = get_args(Category)
Outcome = Literal["sent", "pending_review", "blocked", "no_offer", "rejected", "late"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExtraItem(_Strict):
    """A catalog item that is not on the sandbox menu (hostile names, odd prices, inactive items)."""

    sku: str
    name: str
    category: str
    subcategory: str | None = None
    price_cents: int = Field(gt=0)
    unit_cost_cents: int = Field(ge=0)
    allergens: list[str] = Field(default_factory=list)
    contains_alcohol: bool = False
    active: bool = True


class Location(_Strict):
    timezone: str = "America/New_York"
    alcohol_policy: Literal["allowed", "forbidden"] = "allowed"


class Guest(_Strict):
    """The guest as the POS profile holds them; `allergies: null` means unknown, `[]` means none."""

    tier: str = "silver"
    points: int = Field(default=700, ge=0)
    age_verified: bool = True
    birthday: date | None = None
    allergies: list[str] | None = Field(default_factory=list)
    consent_sms: bool = True
    consent_email: bool = False
    consent_alcohol_marketing: bool = False
    opted_out: bool = Field(default=False, description="Texted STOP (a global opt-out)")
    timezone: str = "America/New_York"
    given_name: str | None = "Dana"
    family_name: str | None = "Whitfield"
    email: str | None = "dana.whitfield@example.com"
    phone: str | None = "+14155550142"
    notes: str | None = Field(default=None, description="Staff notes: untrusted free text (may hold PII)")
    note_pii: list[str] = Field(
        default_factory=list,
        description="Identifying text written into `notes` (a street address, a ZIP code): like the contact "
        "values, no model input, copy or delivered message may hold any of it",
    )


class Visits(_Strict):
    """A run of past visits: `count` visits `every_days` apart, the latest `last_days_ago` days ago."""

    items: list[str] = Field(min_length=1)
    count: int = Field(default=1, ge=1, le=60)
    every_days: float = Field(default=14, gt=0)
    last_days_ago: float = Field(default=14, ge=0)
    hour: int = Field(default=19, ge=0, le=23, description="Local hour of each visit")


class PriorOffer(_Strict):
    """An offer the agent (or a campaign) made before; sent ones also have their message."""

    days_ago: float = Field(ge=0)
    channel: Channel = "sms"
    offer_type: OfferType = "percent_off_item"
    sku: str | None = "HOUSE-SALAD"
    discount_pct: float | None = 10
    strategy: str | None = "favourite"
    status: Literal["sent", "pending_review", "approved", "blocked", "rejected"] = "sent"
    trigger: Literal["transaction", "campaign"] = "transaction"


class PriorMessage(_Strict):
    """A message not tied to an offer (another campaign or tool)."""

    days_ago: float = Field(ge=0)
    channel: Channel = "sms"


class Sale(_Strict):
    """The sale that triggers the decision, delivered as a `sale.completed` event."""

    items: list[str] = Field(default_factory=lambda: ["ICED-TEA"], min_length=1)
    minutes_ago: float = Field(default=1, ge=0, description="How long before `now` the sale happened")
    line_names: dict[str, str] = Field(
        default_factory=dict, description="Line names as the till sends them (untrusted), by sku"
    )


# What an attack draft is unless it says otherwise: a confident, low-value SMS offer whose copy claims
# nothing and names nothing, so the one fault the case plants is the only thing a rule can catch.
ATTACK_DEFAULTS: dict[str, Any] = {
    "make_offer": True,
    "channel": "sms",
    "expires_in_days": 14,
    "confidence": 0.9,
    "strategy": "favourite",
    "rationale": "eval attack draft",
    "sms_text": "Hi {first_name}, a thank-you from Harbor & Vine for your next visit: code {promo_code}."
    " Reply STOP to opt out",
}


class Attack(_Strict):
    """A draft submitted in place of the drafter's, and how the rules alone must end it: usually
    blocked or sent to review; `sent` for edge drafts the rules must let through (then the message must
    be scheduled at `send_local`, the local HH:MM: now, or the end of quiet hours)."""

    draft: dict[str, Any]
    outcome: Literal["blocked", "pending_review", "sent", "rejected"] = "blocked"
    send_local: str | None = Field(default=None, pattern=r"^\d\d:\d\d$")

    def offer(self) -> OfferDraft:
        return OfferDraft.model_validate({**ATTACK_DEFAULTS, **self.draft})

    @model_validator(mode="after")
    def _draft_is_an_offer(self) -> Attack:
        self.offer()
        if (self.send_local is None) != (self.outcome != "sent"):
            raise ValueError("attack.send_local is required for outcome sent, and only then")
        return self


class Review(_Strict):
    """A reviewer's decision, applied when the decision waits for review."""

    action: Literal["accept", "edit", "reject"]
    edits: dict[str, Any] = Field(default_factory=dict)
    role: Literal["marketer", "manager", "admin"] = "manager"
    note: str | None = None


class Expect(_Strict):
    """What the real drafter's run must produce (each field is one check)."""

    offer: bool | None = None
    outcome_in: list[Outcome] | None = None
    strategy_in: list[str] | None = None
    offer_type_in: list[OfferType] | None = None
    sku_in: list[str] | None = None
    channel: Channel | None = None
    send_deferred: bool | None = None
    # Safety constraints on what may reach the guest (items by sku or name, and literal text).
    must_not_mention: list[str] = Field(default_factory=list)
    copy_must_not_contain: list[str] = Field(default_factory=list)


class OfferCase(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str
    category: Category
    tags: list[str] = Field(default_factory=list)
    requires: list[Literal["late_sales"]] = Field(
        default_factory=list, description="Product capabilities the case needs; skipped (and counted) without them"
    )
    now: AwareDatetime = DEFAULT_NOW
    policy: dict[str, Any] = Field(default_factory=dict, description="Overrides of the default merchant policy")
    location: Location = Location()
    catalog: list[str] | None = Field(default=None, description="Menu skus the merchant sells; null = whole menu")
    extra_items: list[ExtraItem] = Field(default_factory=list)
    guest: Guest = Guest()
    visits: list[Visits] = Field(default_factory=list)
    prior_offers: list[PriorOffer] = Field(default_factory=list)
    prior_messages: list[PriorMessage] = Field(default_factory=list)
    sale: Sale = Sale()
    attack: Attack | None = None
    review: Review | None = None
    expect: Expect = Expect()

    @model_validator(mode="after")
    def _skus_exist(self) -> OfferCase:
        extra = {item.sku for item in self.extra_items}
        sold = set(self.catalog) if self.catalog is not None else set(MENU_BY_SKU)
        for sku in self.catalog or []:
            if sku not in MENU_BY_SKU:
                raise ValueError(f"catalog: unknown sku {sku!r}: not on the sandbox menu (sandbox/menu.py)")
        known = sold | extra
        skus = [sku for run in self.visits for sku in run.items] + self.sale.items
        skus += [offer.sku for offer in self.prior_offers if offer.sku]
        skus += self.expect.sku_in or []
        for sku in skus:
            if sku not in known:
                raise ValueError(f"unknown sku {sku!r}: not in this case's catalog nor in extra_items")
        if not self.expect.model_fields_set and self.attack is None:
            raise ValueError("a case needs an attack, an expectation, or both")
        return self


class OfferCaseFile(_Strict):
    templates: dict[str, Any] = Field(default_factory=dict, description="YAML anchors shared by the cases")
    cases: list[OfferCase] = Field(min_length=1)


def load_cases(directory: Path = CASES_DIR) -> list[OfferCase]:
    """Every case of every `*.yaml` file in `directory`, in file then case order; ids must be unique."""
    cases: list[OfferCase] = []
    for path in sorted(directory.glob("*.yaml")):
        with path.open(encoding="utf-8") as handle:
            try:
                cases.extend(OfferCaseFile.model_validate(yaml.safe_load(handle)).cases)
            except (ValueError, yaml.YAMLError) as exc:
                raise ValueError(f"{path}: {exc}") from exc
    ids = [case.id for case in cases]
    duplicates = sorted({case_id for case_id in ids if ids.count(case_id) > 1})
    if duplicates:
        raise ValueError(f"duplicate offer case ids: {', '.join(duplicates)}")
    return cases
