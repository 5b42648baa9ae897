"""The offer eval's case files, validated: a hand-built decision scenario plus what must come out.

A case is what the agent's retrieve step would hand the drafter (features, consents, allergies, a
catalog subset of the sandbox menu, offer history, staff notes) written as data, and the
expectations a marketer and the merchant's rules put on the outcome. Unknown fields are refused, so
a misspelt expectation cannot silently check nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from core.schemas import Channel, OfferType, Verdict
from sandbox.menu import MENU_BY_SKU

CASES_DIR = Path(__file__).with_name("cases")
DEFAULT_NOW = datetime.fromisoformat("2026-11-02T17:00:00+00:00")  # a Monday, noon in New York


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_sku(sku: str, extra: set[str]) -> None:
    if sku not in MENU_BY_SKU and sku not in extra:
        raise ValueError(f"unknown sku {sku!r}: not on the sandbox menu (sandbox/menu.py) nor in extra_items")


class CaseCustomer(_Strict):
    """Customer facts the guardrails read; `allergies: null` means unknown, `[]` means none."""

    tier: str = "silver"
    age_verified: bool = True
    birthday: date | None = None
    allergies: list[str] | None = Field(default_factory=list)
    consent_sms: bool = True
    consent_email: bool = False
    consent_alcohol_marketing: bool = False
    opted_out: bool = False
    timezone: str = "America/New_York"
    location_alcohol_policy: Literal["allowed", "forbidden"] = "allowed"
    clv_cents: int = 0


class CaseFavourite(_Strict):
    """A favourite item; name and category come from the menu unless overridden."""

    sku: str
    count: int = Field(ge=0)
    name: str | None = None
    last_ordered_days_ago: int | None = None
    typical_interval_days: float | None = None
    next_expected_in_days: float | None = None


class CaseExtraItem(_Strict):
    """A catalog item that is not on the sandbox menu (hostile names, odd prices)."""

    sku: str
    name: str
    category: str
    subcategory: str | None = None
    price_cents: int = Field(gt=0)
    unit_cost_cents: int = Field(ge=0)
    allergens: list[str] = Field(default_factory=list)
    contains_alcohol: bool = False


class CaseHistoryEntry(_Strict):
    """A past offer; feeds both the drafter's summary and the fatigue guardrail's history."""

    days_ago: float = Field(ge=0)
    channel: Channel = "sms"
    offer_type: OfferType | None = "percent_off_item"
    strategy: str | None = None
    status: Literal["sent", "scheduled", "pending_review"] = "sent"


class CaseComplement(_Strict):
    sku: str
    score: float = Field(ge=0)


class CaseExpect(_Strict):
    """Quality expectations (each a separate evaluator) and per-case safety constraints."""

    offer: bool | None = None
    strategy_in: list[str] | None = None
    offer_type_in: list[OfferType] | None = None
    sku_in: list[str] | None = None
    channel: Channel | None = None
    verdict_in: list[Verdict] | None = None
    verdict_not: list[Verdict] | None = None
    send_deferred: bool | None = None
    # Safety: items the guest must never be offered nor told about, and text the copy must not contain.
    must_not_mention: list[str] = Field(default_factory=list)
    copy_must_not_contain: list[str] = Field(default_factory=list)


class OfferCase(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str
    tags: list[str] = Field(default_factory=list)
    now: AwareDatetime = DEFAULT_NOW
    customer: CaseCustomer = CaseCustomer()
    features: dict[str, Any] = Field(default_factory=dict, description="agent.drafting.DraftFeatures fields")
    favourites: list[CaseFavourite] = Field(default_factory=list)
    catalog: list[str] | None = Field(default=None, description="Menu skus the drafter may see; null = whole menu")
    extra_items: list[CaseExtraItem] = Field(default_factory=list)
    prefilter: bool = Field(
        default=True,
        description="Apply the agent's eligible_catalog pre-filter (consent/age/known allergies) before drafting; "
        "false hands the drafter everything, as a careless caller or a model's tool result might.",
    )
    transaction: list[str] = Field(default_factory=list)
    purchased_skus: list[str] = Field(default_factory=list)
    complements: list[CaseComplement] = Field(default_factory=list)
    history: list[CaseHistoryEntry] = Field(default_factory=list)
    staff_notes: str | None = None
    known_pii: list[str] = Field(default_factory=list)
    policy: dict[str, Any] = Field(default_factory=dict, description="Overrides of the default merchant policy")
    expect: CaseExpect = CaseExpect()

    @model_validator(mode="after")
    def _skus_exist(self) -> OfferCase:
        extra = {item.sku for item in self.extra_items}
        skus = [fav.sku for fav in self.favourites] + self.transaction + self.purchased_skus
        skus += [c.sku for c in self.complements] + (self.catalog or []) + self.expect.must_not_mention
        skus += self.expect.sku_in or []
        for sku in skus:
            _known_sku(sku, extra)
        if "favourite_items" in self.features:
            raise ValueError("write favourite items under `favourites`, not features.favourite_items")
        return self


class OfferCaseFile(_Strict):
    cases: list[OfferCase] = Field(min_length=1)


def load_cases(directory: Path = CASES_DIR) -> list[OfferCase]:
    """Every case of every `*.yaml` file in `directory`, in file then case order; ids must be unique."""
    cases: list[OfferCase] = []
    for path in sorted(directory.glob("*.yaml")):
        with path.open(encoding="utf-8") as handle:
            try:
                cases.extend(OfferCaseFile.model_validate(yaml.safe_load(handle)).cases)
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from exc
    ids = [case.id for case in cases]
    duplicates = sorted({case_id for case_id in ids if ids.count(case_id) > 1})
    if duplicates:
        raise ValueError(f"duplicate offer case ids: {', '.join(duplicates)}")
    return cases
