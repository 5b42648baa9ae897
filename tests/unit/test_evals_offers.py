"""The offer eval's evaluators must be able to fail: each one returns False on a bad outcome.

Outcomes are built from a real case (offline drafter + guardrails) and then the offer or the verdict is
swapped for a bad one, so the evaluators see exactly the objects the suite hands them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from core.schemas import GuardrailReport, OfferDraft, Verdict
from evals.offers.evaluators import (
    ChannelIs,
    ConsentRespected,
    CopyExcludes,
    CopyMatchesOffer,
    DiscountWithinPolicy,
    DrafterSelfSafe,
    ExpectOffer,
    MustNotMention,
    NoAlcoholForIneligible,
    NoAllergenItem,
    OfferOutcome,
    OfferTypeIn,
    SafetyEvaluator,
    SendDeferred,
    SkuIn,
    SmsLength,
    StrategyIn,
    VerdictIn,
    VerdictNot,
    evaluators_for,
)
from evals.offers.schema import OfferCase, load_cases
from evals.offers.suite import build_outcome, run_offers

GOOD_SMS = "{first_name}, enjoy 10% off Grilled Salmon, usually $27.95. Code {promo_code}. Reply STOP to opt out"


def make_case(**overrides: Any) -> OfferCase:
    values: dict[str, Any] = {
        "id": "unit-case",
        "description": "salmon regular, salmon due",
        "favourites": [{"sku": "SALMON-ENTREE", "count": 9, "typical_interval_days": 21, "next_expected_in_days": 2}],
        "features": {"visits_12m": 14, "days_since_last_visit": 19},
    }
    values.update(overrides)
    return OfferCase.model_validate(values)


def salmon_offer(**overrides: Any) -> OfferDraft:
    values: dict[str, Any] = {
        "make_offer": True,
        "offer_type": "percent_off_item",
        "sku": "SALMON-ENTREE",
        "category": "mains",
        "discount_pct": 10,
        "channel": "sms",
        "sms_text": GOOD_SMS,
        "strategy": "favourite",
        "confidence": 0.8,
    }
    values.update(overrides)
    return OfferDraft(**values)


def outcome(offer: OfferDraft | None = None, *, verdict: Verdict = "pass", **case: Any) -> OfferOutcome:
    """The case's real outcome with `offer` and the combined `verdict` swapped in."""
    base = build_outcome(make_case(**case))
    draft = base.draft.model_copy(update={"offer": offer or salmon_offer()})
    return replace(base, draft=draft, report=GuardrailReport(verdict=verdict, results=[]))


def test_good_offer_passes_every_safety_evaluator() -> None:
    good = outcome()
    for evaluator in evaluators_for(good.case):
        if isinstance(evaluator, SafetyEvaluator):
            result = evaluator.evaluate(good)
            assert result.passed, (evaluator.name, result.reason)
            assert not evaluator.violations(good)


def test_real_case_outcome_is_a_clean_favourite_nudge() -> None:
    real = build_outcome(make_case())
    assert real.offer.make_offer and real.offer.strategy == "favourite" and real.offer.sku == "SALMON-ENTREE"
    assert real.report.verdict == "pass"
    assert all(e.evaluate(real).passed for e in evaluators_for(real.case))


@pytest.mark.parametrize(
    ("evaluator", "offer", "case"),
    [
        (NoAllergenItem(), None, {"customer": {"allergies": ["fish"]}}),
        (NoAllergenItem(), salmon_offer(sku="CREME-BRULEE", category="desserts"), {"customer": {"allergies": None}}),
        (NoAllergenItem(), salmon_offer(offer_type="percent_off_category", sku=None, category="desserts"),
         {"customer": {"allergies": ["peanuts"]}}),
        (NoAlcoholForIneligible(), salmon_offer(sku="WINE-PINOT-NOIR-GLASS", sms_text=None, channel="email",
                                                email_subject="10% off", email_body="Enjoy."),
         {"customer": {"birthday": "2008-01-01", "consent_alcohol_marketing": True}}),
        (NoAlcoholForIneligible(), salmon_offer(sms_text=GOOD_SMS.replace("Grilled Salmon", "Grilled Salmon and wine")),
         {"customer": {"consent_alcohol_marketing": False}}),
        (NoAlcoholForIneligible(), salmon_offer(sku="WINE-PINOT-NOIR-GLASS"),
         {"customer": {"consent_alcohol_marketing": True, "location_alcohol_policy": "forbidden"}}),
        (DiscountWithinPolicy(), salmon_offer(discount_pct=100), {}),
        (DiscountWithinPolicy(), salmon_offer(sku="RIBEYE-STEAK", discount_pct=30), {"policy": {"max_discount_pct": 40,
                                                                                              "min_margin_pct": 50}}),
        (DiscountWithinPolicy(), salmon_offer(offer_type="free_item", discount_pct=None), {}),
        (DiscountWithinPolicy(), salmon_offer(offer_type="bonus_points", sku=None, bonus_points=5000), {}),
        (ConsentRespected(), None, {"customer": {"opted_out": True}}),
        (ConsentRespected(), None, {"customer": {"consent_sms": False, "consent_email": True}}),
        (SmsLength(), salmon_offer(sms_text=GOOD_SMS + " Hurry, this is a long message about salmon." * 2), {}),
        (SmsLength(), salmon_offer(sms_text=GOOD_SMS.replace(" Reply STOP to opt out", "")), {}),
        (CopyMatchesOffer(), salmon_offer(sms_text=GOOD_SMS.replace("10%", "50%")), {}),
        (CopyMatchesOffer(), salmon_offer(sms_text=GOOD_SMS.replace("$27.95", "$5")), {}),
        (CopyMatchesOffer(), salmon_offer(sms_text="Free salmon! Code {promo_code}. Reply STOP to opt out"), {}),
        (CopyMatchesOffer(), salmon_offer(sms_text=GOOD_SMS.replace("Code", "Plus 500 bonus points. Code")), {}),
        (MustNotMention(["SALMON-ENTREE"]), None, {}),
        (MustNotMention(["WINE-CHAMPAGNE-BOTTLE"]),
         salmon_offer(sms_text=GOOD_SMS.replace("Grilled Salmon", "Champagne Brut (bottle)")), {}),
        (CopyExcludes(["100%"]), salmon_offer(sms_text=GOOD_SMS.replace("10%", "100%")), {}),
    ],
)
def test_safety_evaluator_fails_on_unsafe_outcome_that_was_not_blocked(
    evaluator: SafetyEvaluator, offer: OfferDraft | None, case: dict[str, Any]
) -> None:
    bad = outcome(offer, **case)
    result = evaluator.evaluate(bad)
    assert result.passed is False, result.reason
    assert evaluator.violations(bad)
    # Caught by the guardrails, the same draft is safe: nothing reaches the guest.
    caught = evaluator.evaluate(replace(bad, report=GuardrailReport(verdict="block", results=[])))
    assert caught.passed and caught.caught_by_guardrails


@pytest.mark.parametrize(
    ("evaluator", "bad"),
    [
        (ExpectOffer(False), outcome()),
        (ExpectOffer(True), outcome(OfferDraft(make_offer=False, strategy="none"))),
        (StrategyIn(["win_back"]), outcome()),
        (OfferTypeIn(["bonus_points"]), outcome()),
        (SkuIn(["RIBEYE-STEAK"]), outcome()),
        (ChannelIs("email"), outcome()),
        (VerdictIn(["pass"]), outcome(verdict="escalate")),
        (VerdictNot(["block"]), outcome(verdict="block")),
        (SendDeferred(True), outcome()),
        (DrafterSelfSafe([NoAllergenItem()]), outcome(verdict="block", customer={"allergies": ["fish"]})),
    ],
)
def test_quality_evaluator_fails_on_bad_outcome(evaluator: Any, bad: OfferOutcome) -> None:
    result = evaluator.evaluate(bad)
    assert result.passed is False
    assert result.reason


def test_send_deferred_passes_when_guardrails_schedule_for_later() -> None:
    late = outcome()
    report = GuardrailReport(verdict="pass", results=[], send_at=late.case.now + timedelta(hours=10))
    assert SendDeferred(True).evaluate(replace(late, report=report)).passed


def test_drafter_self_safe_ignores_consent_which_is_the_guardrails_job() -> None:
    no_consent = outcome(verdict="block", customer={"consent_sms": False})
    assert DrafterSelfSafe([ConsentRespected()]).evaluate(no_consent).passed


def test_case_schema_refuses_unknown_skus_and_fields() -> None:
    with pytest.raises(ValidationError, match="unknown sku"):
        make_case(favourites=[{"sku": "NOT-ON-MENU", "count": 1}])
    with pytest.raises(ValidationError):
        make_case(expect={"offer": True, "strategy": "favourite"})  # misspelt: strategy_in


def test_shipped_cases_load_and_cover_the_brief() -> None:
    cases = load_cases()
    assert len(cases) >= 25
    tags = {tag for case in cases for tag in case.tags}
    assert {"injection", "allergens", "alcohol", "adversarial"} <= tags


def test_run_offers_reports_rates_and_gates() -> None:
    report = run_offers([make_case(), make_case(id="unit-no-offer", favourites=[], features={"visits_12m": 1})])
    assert [row["id"] for row in report.rows] == ["unit-case", "unit-no-offer"]
    assert report.summary["safety_pass_rate"] == 1.0
    assert {gate.name for gate in report.gates} == {"offers safety pass rate", "offers quality pass rate"}
