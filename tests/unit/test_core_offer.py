"""Ground-floor offer facts: the bounds of OfferDraft, the shape rules, the allergen vocabulary."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from core.allergens import TOP9_ALLERGENS, normalize_allergen, normalize_allergens
from core.offer_shape import channel_copy_problems, shape_problems, target_problems
from core.schemas import CatalogFact, OfferDraft
from core.sms import fold_to_gsm7, is_gsm7, sms_segments
from guardrails.policy import policy_from_mapping
from sandbox.menu import MENU


@pytest.mark.parametrize(
    "changes",
    [
        {"bonus_points": 10**19},
        {"bonus_points": 1_000_001},
        {"discount_cents": 10**12},
        {"discount_pct": 100.5},
        {"discount_pct": float("nan")},
        {"discount_pct": float("inf")},
        {"expires_in_days": 91},
        {"expires_in_days": 0},
        {"email_subject": "x" * 121},
        {"email_body": "x" * 5001},
        {"sms_text": "x" * 1601},
        {"confidence": 1.5},
        {"claims": ["nut-free"] * 21},
    ],
)
def test_absurd_values_are_validation_errors(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        OfferDraft.model_validate({"make_offer": True, "offer_type": "bonus_points", **changes})


def test_generous_values_within_the_type_bounds_validate() -> None:
    offer = OfferDraft(make_offer=True, offer_type="bonus_points", bonus_points=1_000_000, expires_in_days=90,
                       email_subject="x" * 120, email_body="y" * 5000, discount_pct=100)
    assert offer.bonus_points == 1_000_000


ITEMS = {
    "A": CatalogFact(sku="A", name="A", category="mains", price_cents=1000, unit_cost_cents=300),
    "OFF": CatalogFact(sku="OFF", name="Off", category="mains", price_cents=1000, unit_cost_cents=300, active=False),
    "ZERO": CatalogFact(sku="ZERO", name="Zero", category="specials", price_cents=0, unit_cost_cents=0),
}


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"offer_type": None}, "make_offer is true but offer_type is missing"),
        ({"sku": None}, "percent_off_item needs a sku"),
        ({"discount_pct": 0}, "percent_off_item needs a discount_pct above 0"),
        ({"offer_type": "amount_off_item", "discount_pct": None}, "amount_off_item needs discount_cents above 0"),
        ({"offer_type": "bonus_points"}, "bonus_points needs bonus_points above 0"),
        ({"offer_type": "percent_off_category", "sku": None}, "percent_off_category needs a category"),
    ],
)
def test_shape_problems_name_the_missing_field(changes: dict[str, Any], problem: str) -> None:
    offer = OfferDraft.model_validate({"make_offer": True, "offer_type": "percent_off_item", "sku": "A",
                                       "discount_pct": 10, **changes})
    assert problem in shape_problems(offer)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"sku": "NOPE"}, "sku 'NOPE' is not in the eligible catalog"),
        ({"sku": "OFF"}, "sku 'OFF' is not active"),
        ({"sku": "ZERO"}, "sku 'ZERO' has no positive price"),
        ({"offer_type": "percent_off_category", "category": "desserts"}, "has no active eligible catalog items"),
        ({"offer_type": "percent_off_category", "category": "specials"}, "an item without a positive price"),
    ],
)
def test_target_problems_check_the_catalog_given(changes: dict[str, Any], problem: str) -> None:
    offer = OfferDraft.model_validate({"make_offer": True, "offer_type": "percent_off_item", "sku": "A",
                                       "discount_pct": 10, **changes})
    assert [p for p in target_problems(offer, ITEMS, catalog_name="eligible catalog") if problem in p]
    good = OfferDraft(make_offer=True, offer_type="percent_off_item", sku="A", discount_pct=10)
    assert shape_problems(good) == [] and target_problems(good, ITEMS) == []


def test_channel_copy_problems() -> None:
    sms = OfferDraft(make_offer=True, channel="sms", sms_text="  ")
    assert channel_copy_problems(sms) == ["sms channel without sms_text"]
    email = OfferDraft(make_offer=True, channel="email", email_subject="Hi")
    assert channel_copy_problems(email) == ["email channel without email_body"]
    assert channel_copy_problems(OfferDraft(make_offer=False)) == []


def test_one_allergen_vocabulary_for_menu_policy_and_rules() -> None:
    assert {normalize_allergen(s) for s in ("Dairy", "lactose", "milk")} == {"milk"}
    assert normalize_allergens(["gluten", "Tree nuts", "egg", "soybeans", ""]) == {"wheat", "tree_nuts", "eggs", "soy"}
    # The menu is written in the canonical names only.
    assert {a for item in MENU for a in item.allergens} == set(TOP9_ALLERGENS)
    # A policy may use any spelling; it holds the canonical ones.
    policy = policy_from_mapping({"top9_allergens": ["dairy", "gluten", "egg", "milk", "mustard"]})
    assert policy.top9_allergens == ("milk", "wheat", "eggs", "mustard")


def test_gsm_folding_and_segments() -> None:
    assert fold_to_gsm7("Zoë") == "Zoe" and is_gsm7("Zoe")
    assert fold_to_gsm7("José") == "José"  # é is in GSM-7
    assert fold_to_gsm7("王芳") == ""
    assert (sms_segments(160, True), sms_segments(161, True), sms_segments(70, False), sms_segments(71, False)) == (
        1, 2, 1, 2)
