"""An offer's terms are written in one place (core.offer_words), and every reader of an offer says them
the same way: the review pages, the copy guardrail's reasons, the associate's offer fact and the guest
copy. Three twins of this function had drifted ("500 cents off" / "$5.00 off", "free X" / "a free X",
"1000" / "1,000 bonus points"); these tests fail if one comes back or if a caller stops agreeing."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.ask.fact_builders import offer_fact
from agent.ask.guest import OpenOffer
from agent.copywriting import OfferPlan, copy_values
from api.ui.offer_view import OfferView
from core.offer_words import describe_offer, money, percent
from core.schemas import CatalogFact, CustomerFacts, OfferDraft
from db.tables import Offer
from guardrails import GuardrailContext
from guardrails.copy import claim_contradictions
from guardrails.policy import Policy
from tests.unit.test_layering import LAYERS, REPO, product_files

SALMON = CatalogFact(sku="SALMON", name="Grilled Salmon", category="mains", price_cents=2400, unit_cost_cents=800)
CATALOG = {"SALMON": SALMON}

# (terms, the words): the one wording, pinned.
CASES: list[tuple[dict[str, Any], str]] = [
    ({"offer_type": "percent_off_item", "sku": "SALMON", "discount_pct": 12.5}, "12.5% off SALMON"),
    ({"offer_type": "percent_off_item", "sku": "SALMON", "discount_pct": 20.0}, "20% off SALMON"),
    ({"offer_type": "percent_off_category", "category": "desserts", "discount_pct": 15}, "15% off any desserts"),
    ({"offer_type": "amount_off_item", "sku": "SALMON", "discount_cents": 550}, "$5.50 off SALMON"),
    ({"offer_type": "amount_off_item", "sku": "SALMON", "discount_cents": 123450}, "$1,234.50 off SALMON"),
    ({"offer_type": "free_item", "sku": "SALMON"}, "a free SALMON"),
    ({"offer_type": "bonus_points", "bonus_points": 1500}, "1,500 bonus points"),
]


def draft(terms: dict[str, Any]) -> OfferDraft:
    return OfferDraft(make_offer=True, channel="sms", confidence=0.9, **terms)


def row(terms: dict[str, Any], **extra: Any) -> Offer:
    return Offer(id="off_1", merchant_id="m_1", customer_id=1, channel="sms", **terms, **extra)


@pytest.mark.parametrize(("terms", "words"), CASES)
def test_draft_and_stored_offer_read_the_same(terms: dict[str, Any], words: str) -> None:
    assert describe_offer(draft(terms)) == words
    assert describe_offer(row(terms)) == words


def test_money_and_percent() -> None:
    assert (money(5), money(2400), money(123450)) == ("$0.05", "$24.00", "$1,234.50")
    assert (percent(15.0), percent(12.5), percent(100)) == ("15%", "12.5%", "100%")


def test_names_are_the_callers_choice() -> None:
    terms = {"offer_type": "percent_off_item", "sku": "SALMON", "discount_pct": 10}
    assert describe_offer(draft(terms), item_name="Grilled Salmon") == "10% off Grilled Salmon"
    category = {"offer_type": "percent_off_category", "category": "desserts", "discount_pct": 10}
    assert describe_offer(draft(category), category_name="dessert") == "10% off any dessert"
    assert describe_offer(draft({"offer_type": "free_item", "sku": None})) == "a free ?"


@pytest.mark.parametrize(("terms", "words"), CASES)
def test_copy_guardrail_reasons_say_the_offer_in_the_one_wording(terms: dict[str, Any], words: str) -> None:
    ctx = GuardrailContext(
        offer=draft(terms),
        customer=CustomerFacts(pseudonym="g_test", allergies=[]),
        catalog=CATALOG,
        history=[],
        policy=Policy(),
        now=datetime(2026, 1, 15, 17, tzinfo=UTC),
    )
    # 99% matches none of these offers; "9999 points" matches none; "free" contradicts all but free_item.
    problems = claim_contradictions(ctx, "99% off, 9999 points and a free dessert")
    reasons = [p for p in problems if "but the offer is" in p]
    assert len(reasons) >= 2, problems
    assert all(p.endswith(f"but the offer is {words}") for p in reasons), problems


@pytest.mark.parametrize(("terms", "words"), CASES)
def test_associate_offer_fact_uses_the_one_wording_with_the_menu_name(terms: dict[str, Any], words: str) -> None:
    offer = row(terms, status="sent", promo_code="HV-1", expires_at=datetime(2026, 2, 1, tzinfo=UTC))
    fact = offer_fact(OpenOffer(offer=offer, promo=None), CATALOG, tz="UTC")
    expected = words.replace("SALMON", "Grilled Salmon")  # the associate reads the menu name
    assert fact.value is not None and fact.value["what"] == expected
    assert fact.quote.startswith(f"offer: {expected}, sent by sms")


def test_offer_page_and_review_queue_use_the_one_wording() -> None:
    from api.routes import ui

    view = OfferView(offer=row(CASES[0][0], status="pending_review"), guest=None, visits=[], audit=[])
    for role in ("manager", "marketer"):
        assert view.context(role)["describe"] is describe_offer
    assert ui.describe_offer is describe_offer  # the queue page's `describe`


@pytest.mark.parametrize(
    ("plan", "words"),
    [
        (OfferPlan("favourite", "percent_off_item", 14, 0.8, "r", item=SALMON, discount_pct=20),
         "20% off Grilled Salmon"),
        (OfferPlan("birthday", "free_item", 14, 0.8, "r", item=SALMON), "a free Grilled Salmon"),
        (OfferPlan("tier", "bonus_points", 14, 0.8, "r", bonus_points=1500), "1,500 bonus points"),
        # Guest copy names a category as a noun ("any dessert"): its own choice of name, the same wording.
        (OfferPlan("c", "percent_off_category", 14, 0.8, "r", category="desserts", discount_pct=15),
         "15% off any dessert"),
    ],
)
def test_guest_copy_uses_the_one_wording(plan: OfferPlan, words: str) -> None:
    values = copy_values(plan, valid_until=date(2026, 2, 1), opt_out="Reply STOP to opt out")
    assert values["offer"] == words


# The forms an offer describer writes; a function writing two of them is one.
_DESCRIBER_FORMS = (" bonus points", "a free ", "} off ")


def _describers(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        texts = [
            "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in n.values)
            for n in ast.walk(node)
            if isinstance(n, ast.JoinedStr)
        ]
        blob = "\n".join(texts)
        if sum(form in blob for form in _DESCRIBER_FORMS) >= 2:
            found.append(node.name)
    return found


def test_no_second_offer_describer() -> None:
    files = product_files(REPO, LAYERS)
    assert "core.offer_words" in files
    found = {(module, name) for module, path in files.items() for name in _describers(path)}
    assert found == {("core.offer_words", "describe_offer")}
