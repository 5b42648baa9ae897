"""Targeted tests: each guardrail rule passes a good offer and fails the way it should."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from core.schemas import CatalogFact, CustomerFacts, OfferDraft, OfferHistoryEntry
from guardrails import GuardrailContext, evaluate, policy_from_mapping
from guardrails.alcohol import age_on, check_alcohol
from guardrails.allergens import check_allergens
from guardrails.consent import check_consent
from guardrails.copy import check_copy, sms_length
from guardrails.discount import check_discount, check_offer_value
from guardrails.escalation import check_escalation
from guardrails.fatigue import check_fatigue
from guardrails.margin import check_margin
from guardrails.policy import Policy
from guardrails.quiet_hours import check_quiet_hours
from guardrails.structure import check_structure

# 17:00 UTC = 12:00 in New York (outside quiet hours).
NOON_NY = datetime(2026, 1, 15, 17, 0, tzinfo=UTC)
GOOD_SMS = "Hi {first_name}, enjoy 20% off Grilled Salmon this week with code {promo_code}. Reply STOP to opt out"

CATALOG = {
    "SALMON": CatalogFact(
        sku="SALMON", name="Grilled Salmon", category="mains", price_cents=2400, unit_cost_cents=800,
        allergens=["fish"],
    ),
    "STEAK": CatalogFact(sku="STEAK", name="Ribeye Steak", category="mains", price_cents=3600, unit_cost_cents=2200),
    "SALAD": CatalogFact(sku="SALAD", name="Garden Salad", category="starters", price_cents=1000, unit_cost_cents=300),
    "PIE": CatalogFact(
        sku="PIE", name="Pecan Pie", category="desserts", price_cents=900, unit_cost_cents=250,
        allergens=["Tree Nuts", "wheat", "eggs"],
    ),
    "WINE": CatalogFact(
        sku="WINE", name="House Merlot", category="drinks", subcategory="wine", price_cents=1200, unit_cost_cents=300,
        contains_alcohol=True,
    ),
    "LEMONADE": CatalogFact(sku="LEMONADE", name="Lemonade", category="drinks", price_cents=500, unit_cost_cents=80),
    "OLD": CatalogFact(
        sku="OLD", name="Retired Dish", category="mains", price_cents=2000, unit_cost_cents=500, active=False
    ),
}


def customer(**changes: Any) -> CustomerFacts:
    base: dict[str, Any] = {
        "pseudonym": "g_test",
        "allergies": [],
        "consent_sms": True,
        "consent_email": True,
        "age_verified": True,
        "birthday": date(1990, 6, 15),
        "consent_alcohol_marketing": True,
    }
    base.update(changes)
    return CustomerFacts(**base)


def offer(**changes: Any) -> OfferDraft:
    base: dict[str, Any] = {
        "make_offer": True,
        "offer_type": "percent_off_item",
        "sku": "SALMON",
        "discount_pct": 20,
        "channel": "sms",
        "sms_text": GOOD_SMS,
        "confidence": 0.9,
    }
    base.update(changes)
    return OfferDraft(**base)


def ctx(
    *,
    draft: OfferDraft | None = None,
    guest: CustomerFacts | None = None,
    history: list[OfferHistoryEntry] | None = None,
    policy: Policy | None = None,
    now: datetime = NOON_NY,
    known_pii: tuple[str, ...] = (),
) -> GuardrailContext:
    return GuardrailContext(
        offer=draft or offer(),
        customer=guest or customer(),
        catalog=CATALOG,
        history=history or [],
        policy=policy or Policy(),
        now=now,
        known_pii_values=known_pii,
    )


def test_good_offer_passes_every_rule() -> None:
    report = evaluate(ctx())
    assert report.verdict == "pass", [r.reason for r in report.results if r.verdict != "pass"]
    assert report.send_at is None
    assert {r.rule for r in report.results} >= {
        "structure", "consent", "allergens", "alcohol", "margin", "discount", "offer_value", "fatigue",
        "quiet_hours", "copy", "escalation",
    }


def test_no_offer_needs_no_rules() -> None:
    report = evaluate(ctx(draft=OfferDraft(make_offer=False)))
    assert report.verdict == "pass"
    assert [r.rule for r in report.results] == ["no_offer"]


def test_naive_now_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        GuardrailContext(
            offer=offer(), customer=customer(), catalog=CATALOG, history=[], policy=Policy(),
            now=datetime(2026, 1, 15, 12, 0),  # noqa: DTZ001 - the point of the test
        )


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"sku": "NOPE"}, "not in the catalog"),
        ({"sku": "OLD"}, "not active"),
        ({"sku": None}, "needs a sku"),
        ({"discount_pct": None}, "discount_pct"),
        ({"offer_type": "percent_off_category", "category": "nothing-here"}, "no active catalog items"),
        ({"offer_type": "bonus_points", "bonus_points": None}, "bonus_points"),
        ({"offer_type": None}, "offer_type is missing"),
    ],
)
def test_structure_blocks_unexecutable_offers(changes: dict[str, Any], fragment: str) -> None:
    verdict = check_structure(ctx(draft=offer(**changes)))
    assert verdict.verdict == "block"
    assert fragment in verdict.reason
    assert evaluate(ctx(draft=offer(**changes))).verdict == "block"


def test_margin_blocks_below_floor_and_passes_at_floor() -> None:
    # STEAK: 3600 price, 2200 cost. 0 % off -> 38.9 % margin; 10 % off -> 3240 -> 32.1 %; 15 % -> 28.1 %.
    assert check_margin(ctx(draft=offer(sku="STEAK", discount_pct=10))).verdict == "pass"
    blocked = check_margin(ctx(draft=offer(sku="STEAK", discount_pct=15)))
    assert blocked.verdict == "block"
    assert blocked.evidence["sku"] == "STEAK"
    # Exactly at the floor passes: price 1000, cost 560 -> 20 % off = 800 -> (800-560)/800 = 30 %.
    catalog = {"X": CatalogFact(sku="X", name="Thing", category="c", price_cents=1000, unit_cost_cents=560)}
    at_floor = GuardrailContext(
        offer=offer(sku="X", discount_pct=20), customer=customer(), catalog=catalog, history=[], policy=Policy(),
        now=NOON_NY,
    )
    assert check_margin(at_floor).verdict == "pass"


def test_margin_uses_worst_item_of_category() -> None:
    # mains: SALMON keeps 58 % at 25 % off but STEAK drops to 18.5 %.
    verdict = check_margin(ctx(draft=offer(offer_type="percent_off_category", sku=None, category="mains",
                                           discount_pct=25)))
    assert verdict.verdict == "block"
    assert verdict.evidence["sku"] == "STEAK"


def test_discount_cap_and_amount_and_free_item() -> None:
    assert check_discount(ctx(draft=offer(discount_pct=30))).verdict == "pass"
    assert check_discount(ctx(draft=offer(discount_pct=30.5))).verdict == "block"
    assert check_discount(ctx(draft=offer(discount_pct=100))).verdict == "block"
    # 700 off a 2400 item = 29.2 % passes; 800 off = 33.3 % blocks.
    assert check_discount(ctx(draft=offer(offer_type="amount_off_item", discount_pct=None,
                                          discount_cents=700))).verdict == "pass"
    assert check_discount(ctx(draft=offer(offer_type="amount_off_item", discount_pct=None,
                                          discount_cents=800))).verdict == "block"
    free = offer(offer_type="free_item", sku="LEMONADE", discount_pct=None)
    assert check_discount(ctx(draft=free)).verdict == "block"  # free items disabled by default
    allowance = Policy(free_item_max_price_cents=600)
    assert check_discount(ctx(draft=free, policy=allowance)).verdict == "pass"
    assert check_margin(ctx(draft=free, policy=allowance)).verdict == "pass"


def test_offer_value_cap_per_type() -> None:
    policy = Policy(max_discount_pct=100, max_offer_value_cents=700)
    assert check_offer_value(ctx(draft=offer(discount_pct=25), policy=policy)).verdict == "pass"  # 600
    assert check_offer_value(ctx(draft=offer(discount_pct=30), policy=policy)).verdict == "block"  # 720
    points = offer(offer_type="bonus_points", sku=None, discount_pct=None, bonus_points=800)
    assert check_offer_value(ctx(draft=points, policy=policy)).verdict == "block"  # 800 points x 1 cent
    category = offer(offer_type="percent_off_category", sku=None, category="mains", discount_pct=20)
    blocked = check_offer_value(ctx(draft=category, policy=policy))  # worst case 20 % of 3600 = 720
    assert blocked.verdict == "block"
    assert blocked.evidence["offer_value_cents"] == 720


def test_allergen_conflict_blocks_whatever_the_model_claims() -> None:
    draft = offer(sku="PIE", sms_text=None, channel="email", email_subject="Treat", email_body="Pie day. {promo_code}",
                  claims=["This pecan pie is nut-free and safe for the guest"])
    verdict = check_allergens(ctx(draft=draft, guest=customer(allergies=["tree nuts"])))
    assert verdict.verdict == "block"
    assert verdict.evidence["conflicts"] == {"PIE": ["tree_nuts"]}
    assert verdict.evidence["model_claims_ignored"]
    assert check_allergens(ctx(draft=offer(sku="SALAD"), guest=customer(allergies=["tree nuts"]))).verdict == "pass"


def test_unknown_allergies_follow_policy() -> None:
    unknown = customer(allergies=None)
    assert check_allergens(ctx(draft=offer(sku="SALMON"), guest=unknown)).verdict == "block"
    escalate = Policy(unknown_allergy_action="escalate")
    assert check_allergens(ctx(draft=offer(sku="SALMON"), guest=unknown, policy=escalate)).verdict == "escalate"
    allow = Policy(allow_unknown_allergy_offers_on_top9=True)
    assert check_allergens(ctx(draft=offer(sku="SALMON"), guest=unknown, policy=allow)).verdict == "pass"
    assert check_allergens(ctx(draft=offer(sku="SALAD"), guest=unknown)).verdict == "pass"  # no top-9 allergen


def test_category_offer_counts_every_item_for_allergens() -> None:
    draft = offer(offer_type="percent_off_category", sku=None, category="mains", discount_pct=10)
    assert check_allergens(ctx(draft=draft, guest=customer(allergies=["Fish"]))).verdict == "block"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"age_verified": False}, "age not verified"),
        ({"birthday": date(2008, 1, 1)}, "under the legal age"),
        ({"consent_alcohol_marketing": False}, "opt-in"),
        ({"location_alcohol_policy": "forbidden"}, "location"),
    ],
)
def test_alcohol_needs_every_condition(changes: dict[str, Any], reason: str) -> None:
    wine_sms = "Hi {first_name}, 20% off House Merlot with code {promo_code}. Reply STOP to opt out"
    draft = offer(sku="WINE", sms_text=wine_sms)
    assert check_alcohol(ctx(draft=draft)).verdict == "pass"
    verdict = check_alcohol(ctx(draft=draft, guest=customer(**changes)))
    assert verdict.verdict == "block"
    assert reason in verdict.reason
    assert check_copy(ctx(draft=draft, guest=customer(**changes))).verdict == "block"


def test_alcohol_disabled_by_merchant_policy() -> None:
    policy = policy_from_mapping({"alcohol": {"marketing_enabled": False}})
    assert check_alcohol(ctx(draft=offer(sku="WINE"), policy=policy)).verdict == "block"


def test_legal_age_counted_on_the_customer_local_date() -> None:
    # Turns 21 on 2026-01-16; at 03:00 UTC on the 16th it is still the 15th in New York.
    guest = customer(birthday=date(2005, 1, 16))
    draft = offer(sku="WINE", sms_text="Hi {first_name}, 20% off House Merlot. Reply STOP to opt out")
    before = datetime(2026, 1, 16, 3, 0, tzinfo=UTC)
    assert check_alcohol(ctx(draft=draft, guest=guest, now=before)).verdict == "block"
    assert check_alcohol(ctx(draft=draft, guest=guest, now=before + timedelta(hours=3))).verdict == "pass"
    assert age_on(date(2004, 2, 29), date(2025, 2, 28)) == 20
    assert age_on(date(2004, 2, 29), date(2025, 3, 1)) == 21


def test_consent_and_opt_out() -> None:
    assert check_consent(ctx(guest=customer(consent_sms=False))).verdict == "block"
    assert check_consent(ctx(guest=customer(opted_out=True))).verdict == "block"
    email = offer(channel="email", sms_text=None, email_subject="A treat", email_body="Hi {first_name}, 20% off.")
    assert check_consent(ctx(draft=email, guest=customer(consent_sms=False))).verdict == "pass"
    assert check_consent(ctx(draft=email, guest=customer(consent_email=False))).verdict == "block"


def _sent(days_ago: float, channel: str = "sms", status: str = "sent") -> OfferHistoryEntry:
    return OfferHistoryEntry(at=NOON_NY - timedelta(days=days_ago), channel=channel, status=status)  # type: ignore[arg-type]


def test_fatigue_caps_and_minimum_gap() -> None:
    assert check_fatigue(ctx(history=[_sent(3)])).verdict == "pass"
    assert check_fatigue(ctx(history=[_sent(3), _sent(5)])).verdict == "block"  # sms 2 per 7 days
    assert check_fatigue(ctx(history=[_sent(1)])).verdict == "block"  # 24 h < 48 h gap
    assert check_fatigue(ctx(history=[_sent(1, status="blocked")])).verdict == "pass"  # not counted
    across = [_sent(3, "email"), _sent(5, "email"), _sent(9, "sms"), _sent(12, "email")]
    verdict = check_fatigue(ctx(history=across))  # 4 in 14 days across channels
    assert verdict.verdict == "block"
    assert "all cap" in verdict.reason
    future = [OfferHistoryEntry(at=NOON_NY + timedelta(hours=20), channel="email", status="scheduled")]
    assert check_fatigue(ctx(history=future)).verdict == "block"


def test_quiet_hours_defer_not_drop() -> None:
    late = datetime(2026, 1, 16, 3, 30, tzinfo=UTC)  # 22:30 in New York
    verdict = check_quiet_hours(ctx(now=late))
    assert verdict.verdict == "pass"
    assert verdict.evidence["deferred_until"] == "2026-01-16T14:00:00+00:00"  # 09:00 EST
    report = evaluate(ctx(now=late))
    assert report.verdict == "pass"
    assert report.send_at == datetime(2026, 1, 16, 14, 0, tzinfo=UTC)
    tokyo = customer(timezone="Asia/Tokyo")  # 12:00 UTC = 21:00 in Tokyo
    assert evaluate(ctx(guest=tokyo, now=datetime(2026, 1, 15, 12, 0, tzinfo=UTC))).send_at == datetime(
        2026, 1, 16, 0, 0, tzinfo=UTC
    )
    invalid = check_quiet_hours(ctx(guest=customer(timezone="Mars/Olympus"), now=late))
    assert invalid.evidence["customer_timezone_known"] is False
    assert "deferred_until" in invalid.evidence


@pytest.mark.parametrize(
    ("sms", "fragment"),
    [
        ("Hi {first_name}, 20% off Grilled Salmon with code {promo_code}.", "opt-out"),
        ("Hi {first_name}, 25% off Grilled Salmon! Reply STOP to opt out", "25%"),
        ("Hi {first_name}, $9 off Grilled Salmon! Reply STOP to opt out", "$9"),
        ("Hi {first_name}, free Grilled Salmon! Reply STOP to opt out", "'free'"),
        ("Hi {first_name}, 20% off + 500 points! Reply STOP to opt out", "500 points"),
        ("Hi {first_name}, 20% off, BOGO too! Reply STOP to opt out", "buy-one-get-one"),
        ("Hi {first_name}, 20% off, valid 30 days. Reply STOP to opt out", "expires in 14 days"),
        ("Hi Maria, 20% off Grilled Salmon. Reply STOP to opt out", "raw PII"),
        ("Hi {first_name}, 20% off. Questions? maria@example.com Reply STOP to opt out", "email"),
        ("Hi {first_name}, 20% off. Call 415-555-0199. Reply STOP to opt out", "phone"),
        ("Hi {first_name}, 20% off, card 4111 1111 1111 1111. Reply STOP to opt out", "card_number"),
        ("Hi {first_name} {last_name}, 20% off. Reply STOP to opt out", "placeholders"),
        ("Hi {first_name}, 20% off our nut-free salmon. Reply STOP to opt out", "allergen-safety"),
        ("Hi {first_name}, 20% off Grilled Salmon and a glass of wine. Reply STOP to opt out", "alcohol"),
        ("Hi {first_name}, 20% off Grilled Salmon " + "x" * 120 + ". Reply STOP to opt out", "limit 160"),
        ("Hi {first_name}, 20% off Grilled Salmon 🐟. Reply STOP to opt out" + "!" * 20, "UCS-2"),
        ("Hi {first_name}, <b>20% off</b> Grilled Salmon. Reply STOP to opt out", "markup"),
        ("Hi {first_name}, 20% off <script>alert(1)</script>. Reply STOP to opt out", "markup"),
        ("Hi {first_name}, 20% off <img src=x onerror=alert(1)>. Reply STOP to opt out", "markup"),
        ("Hi {first_name}, 20% off &lt;script&gt; Grilled Salmon. Reply STOP to opt out", "markup"),
        ("Hi {first_name}, 20% off Grilled Salmon <!-- x -->. Reply STOP to opt out", "markup"),
        ("Hi {first_name}, 20% off our dairy-free salmon. Reply STOP to opt out", "allergen-safety"),
        ("Hi {first_name}, 20% off our Tree Nuts free salmon. Reply STOP to opt out", "allergen-safety"),
        ("Hi {first_name}, buy one Grilled Salmon, get one on us. Reply STOP to opt out", "buy-one-get-one"),
        ("Hi {first_name}, 20% off Grilled Salmon, dessert on the house! Reply STOP to opt out", "'free'"),
        ("Hi {first_name}, 20% off Grilled Salmon, a complimentary side. Reply STOP to opt out", "'free'"),
        ("Hi {first_name}, 20% off Grilled Salmon, a glass of pinot with it. Reply STOP to opt out", "alcohol"),
        ("Hi {first_name}, 20% off Grilled Salmon and a Negroni. Reply STOP to opt out", "alcohol"),
    ],
)
def test_copy_violations_block(sms: str, fragment: str) -> None:
    guest = customer(consent_alcohol_marketing=False)
    verdict = check_copy(ctx(draft=offer(sms_text=sms), guest=guest))
    assert verdict.verdict == "block", sms
    assert fragment in verdict.reason


@pytest.mark.parametrize(
    "sms",
    [
        GOOD_SMS,
        "Hi {first_name}! Save $4.80 on Grilled Salmon ($24) this week. Reply STOP to opt out",
        "Hey there, feel free to grab 20% off Grilled Salmon, valid 14 days. Reply STOP to opt out",
        "Hi friend, Grilled Salmon is 20 percent off, now $19.20. Code {promo_code}. reply stop to opt out",
        "Hi {first_name}, 20% off Grilled Salmon & sides <3 Reply STOP to opt out",  # not markup
    ],
)
def test_compliant_copy_passes(sms: str) -> None:
    verdict = check_copy(ctx(draft=offer(sms_text=sms)))
    assert verdict.verdict == "pass", verdict.reason


def test_copy_points_and_amount_claims_match_structured_offer() -> None:
    points = offer(offer_type="bonus_points", sku=None, discount_pct=None, bonus_points=300,
                   sms_text="Hi {first_name}, 300 bonus points ($3 value) on your next visit. Reply STOP to opt out")
    assert check_copy(ctx(draft=points)).verdict == "pass"
    wrong = points.model_copy(update={"bonus_points": 200})
    assert check_copy(ctx(draft=wrong)).verdict == "block"
    amount = offer(offer_type="amount_off_item", discount_pct=None, discount_cents=500,
                   sms_text="Hi {first_name}, $5 off Grilled Salmon (about 21% off). Reply STOP to opt out")
    assert check_copy(ctx(draft=amount)).verdict == "pass"


def test_copy_never_mentions_items_the_customer_must_not_get() -> None:
    sms = "Hi {first_name}, 20% off Grilled Salmon, try the Pecan Pie too. Reply STOP to opt out"
    assert check_copy(ctx(draft=offer(sms_text=sms), guest=customer(allergies=["nuts"]))).verdict == "block"
    assert check_copy(ctx(draft=offer(sms_text=sms))).verdict == "pass"
    # Eligible customers may read about wine; an ineligible one may not, even by item name only.
    wine = "Hi {first_name}, 20% off Grilled Salmon, pairs with House Merlot. Reply STOP to opt out"
    assert check_copy(ctx(draft=offer(sms_text=wine))).verdict == "pass"
    assert check_copy(ctx(draft=offer(sms_text=wine), guest=customer(birthday=date(2010, 1, 1)))).verdict == "block"


def test_copy_checks_known_contact_values_and_all_fields() -> None:
    sms = "Hi {first_name}, 20% off Grilled Salmon, Gonzalez family! Reply STOP to opt out"
    assert check_copy(ctx(draft=offer(sms_text=sms), known_pii=("Maria", "Gonzalez"))).verdict == "block"
    # Email body is checked even though the channel is sms (a reviewer may switch channel).
    leaky = offer(email_body="Dear Maria, call +1 415 555 0199")
    assert check_copy(ctx(draft=leaky)).verdict == "block"


def test_email_copy_is_plain_text_too() -> None:
    draft = offer(channel="email", sms_text=None, email_subject="20% off for you",
                  email_body='Hi {first_name}, <a href="https://x.example">20% off Grilled Salmon</a>')
    verdict = check_copy(ctx(draft=draft))
    assert verdict.verdict == "block"
    assert "email_body contains markup" in verdict.reason


def test_sms_limit_follows_the_policy_in_both_encodings() -> None:
    default = Policy().sms
    assert (default.limit_for(gsm=True), default.limit_for(gsm=False)) == (160, 70)
    tight = policy_from_mapping({"sms": {"max_length": 140, "opt_out_text": "Text STOP to end"}}).sms
    assert (tight.limit_for(gsm=True), tight.limit_for(gsm=False)) == (140, 61)  # same share of a segment
    sms = "Hi {first_name}, 20% off Grilled Salmon with code {promo_code}. Text STOP to end"
    tight_policy = policy_from_mapping({"sms": {"max_length": 140, "opt_out_text": "Text STOP to end"}})
    assert check_copy(ctx(draft=offer(sms_text=sms), policy=tight_policy)).verdict == "pass"
    unicode_sms = sms.replace("Salmon", "Salmon 🐟")  # now UCS-2: 83 units with the budgets > 61
    verdict = check_copy(ctx(draft=offer(sms_text=unicode_sms), policy=tight_policy))
    assert verdict.verdict == "block" and "limit 61" in verdict.reason
    assert "opt-out" in check_copy(ctx(draft=offer(sms_text=GOOD_SMS), policy=tight_policy)).reason


def test_email_copy_required_for_email_channel() -> None:
    draft = offer(channel="email", sms_text=None, email_subject=None, email_body=None)
    verdict = check_copy(ctx(draft=draft))
    assert verdict.verdict == "block"
    assert "email_subject" in verdict.reason


def test_sms_length_counts_gsm_extension_and_unicode() -> None:
    assert sms_length("abc") == (3, True)
    assert sms_length("a€") == (3, True)
    assert sms_length("a🐟") == (3, False)


def test_escalation_triggers() -> None:
    assert check_escalation(ctx()).verdict == "pass"
    assert check_escalation(ctx(guest=customer(tier="vip"))).verdict == "escalate"
    assert check_escalation(ctx(guest=customer(clv_cents=500_000))).verdict == "escalate"
    assert check_escalation(ctx(draft=offer(confidence=0.2))).verdict == "escalate"
    assert check_escalation(ctx(draft=offer(sku="STEAK", discount_pct=30))).verdict == "escalate"  # 1080 cents
    narrow = policy_from_mapping({"escalation": {"known_offer_types": ["bonus_points"]}})
    verdict = check_escalation(ctx(policy=narrow))
    assert verdict.verdict == "escalate"
    assert "new offer type" in verdict.reason
    report = evaluate(ctx(guest=customer(tier="vip")))
    assert report.verdict == "escalate"


def test_block_wins_over_escalate() -> None:
    sms = "Hi {first_name}, 50% off Ribeye Steak! Reply STOP to opt out"
    report = evaluate(ctx(draft=offer(sku="STEAK", discount_pct=50, sms_text=sms), guest=customer(tier="vip")))
    assert report.verdict == "block"
    assert {r.rule for r in report.blocking} == {"discount", "margin", "offer_value"}
    assert [r.rule for r in report.escalating] == ["escalation"]


def test_rule_overrides() -> None:
    soft = policy_from_mapping({"rules": {"discount": {"escalate_instead_of_block": True},
                                          "margin": {"escalate_instead_of_block": True}}})
    report = evaluate(ctx(draft=offer(discount_pct=35, sms_text=GOOD_SMS.replace("20%", "35%")), policy=soft))
    assert report.verdict == "escalate"
    discount = next(r for r in report.results if r.rule == "discount")
    assert discount.evidence["overridden_verdict"] == "block"
    review_alcohol = policy_from_mapping({"rules": {"alcohol": {"escalate": True}}})
    assert evaluate(ctx(policy=review_alcohol)).verdict == "pass"  # not an alcohol offer: not applicable
    wine = offer(sku="WINE", sms_text="Hi {first_name}, 20% off House Merlot. Reply STOP to opt out")
    assert evaluate(ctx(draft=wine, policy=review_alcohol)).verdict == "escalate"


def test_crashing_rule_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    import guardrails.engine as engine

    def broken(_: GuardrailContext) -> Any:
        raise RuntimeError("bug")

    broken.__name__ = "check_broken"
    monkeypatch.setattr(engine, "RULES", (*engine.RULES, broken))
    report = evaluate(ctx())
    assert report.verdict == "block"
    assert report.blocking[0].rule == "broken"


def test_reviewer_edit_goes_through_the_same_rules() -> None:
    approved = ctx()
    assert evaluate(approved).verdict == "pass"
    edited = offer(sms_text="Hi Maria, 20% off Grilled Salmon! Reply STOP to opt out")
    assert evaluate(ctx(draft=edited)).verdict == "block"


def test_zero_proof_item_name_is_not_an_alcohol_mention() -> None:
    """The offered item's own catalog name ("Nojito (zero-proof mojito)") is a fact, not an alcohol
    mention; any other alcohol word in the same copy still blocks."""
    nojito = CatalogFact(sku="NOJITO", name="Nojito (zero-proof mojito)", category="drinks", price_cents=700,
                         unit_cost_cents=150, allergens=[], contains_alcohol=False)
    minor = CustomerFacts(pseudonym="g_x", consent_sms=True, age_verified=False)
    sms = "Hi {first_name}: 15% off Nojito (zero-proof mojito), code {promo_code}. Reply STOP to opt out"
    offer = OfferDraft(make_offer=True, offer_type="percent_off_item", sku="NOJITO", discount_pct=15,
                       channel="sms", sms_text=sms)
    ctx = GuardrailContext(offer=offer, customer=minor, catalog={"NOJITO": nojito}, history=[],
                           policy=Policy(), now=datetime(2026, 11, 20, 18, tzinfo=UTC))
    assert check_copy(ctx).verdict == "pass"
    boozy = offer.model_copy(update={"sms_text": sms.replace("Reply", "Pairs well with a mojito! Reply")})
    assert check_copy(GuardrailContext(offer=boozy, customer=minor, catalog={"NOJITO": nojito}, history=[],
                                       policy=Policy(), now=ctx.now)).verdict == "block"
