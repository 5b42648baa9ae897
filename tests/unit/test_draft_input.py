"""The one assembly of DraftInput: consent, catalog pre-filter, history summary, send time and limits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from agent.draft_input import (
    Complement,
    DraftFeatures,
    OfferLimits,
    assemble_draft_input,
    summarize_history,
)
from core.schemas import CatalogFact, CustomerFacts, OfferHistoryEntry
from guardrails.policy import policy_from_mapping

NOW = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)  # noon in New York
CATALOG = {
    "SALMON": CatalogFact(sku="SALMON", name="Grilled Salmon", category="mains", price_cents=2400,
                          unit_cost_cents=800, allergens=["fish"]),
    "SORBET": CatalogFact(sku="SORBET", name="Lemon Sorbet", category="desserts", price_cents=700,
                          unit_cost_cents=140),
    "CAKE": CatalogFact(sku="CAKE", name="Lava Cake", category="desserts", price_cents=900, unit_cost_cents=200,
                        allergens=["Dairy"]),
    "WINE": CatalogFact(sku="WINE", name="House Red", category="drinks", price_cents=1200, unit_cost_cents=300,
                        contains_alcohol=True),
    "WATER": CatalogFact(sku="WATER", name="Tap Water", category="drinks", price_cents=0, unit_cost_cents=0),
}
POLICY = policy_from_mapping({})


def guest(**changes: object) -> CustomerFacts:
    values: dict[str, object] = {"pseudonym": "g_1", "allergies": ["milk"], "consent_sms": True,
                                 "consent_email": True, "tier": "gold", "clv_cents": 12_345,
                                 "birthday": date(1990, 3, 20)}
    values.update(changes)
    return CustomerFacts.model_validate(values)


def test_consent_counts_only_without_an_opt_out() -> None:
    inp = assemble_draft_input(facts=guest(opted_out=True), features=DraftFeatures(), catalog=CATALOG,
                               policy=POLICY, now=NOW)
    assert (inp.consents.sms, inp.consents.email) == (False, False)
    inp = assemble_draft_input(facts=guest(), features=DraftFeatures(), catalog=CATALOG, policy=POLICY, now=NOW)
    assert (inp.consents.sms, inp.consents.email) == (True, True)


def test_catalog_prefilter_and_excluded_categories() -> None:
    inp = assemble_draft_input(facts=guest(), features=DraftFeatures(), catalog=CATALOG, policy=POLICY, now=NOW,
                               complements=[Complement(sku=s, name=s, score=0.5) for s in ("CAKE", "SORBET", "WINE")])
    # Dairy is milk; no alcohol without the opt-in; nothing unpriced.
    assert [item.sku for item in inp.eligible_catalog] == ["SALMON", "SORBET"]
    assert inp.excluded_categories == ["desserts", "drinks"]
    assert [c.sku for c in inp.complements] == ["SORBET"]


def test_profile_figures_come_from_the_customer_facts() -> None:
    inp = assemble_draft_input(facts=guest(), features=DraftFeatures(tier="member", clv_cents=1), catalog=CATALOG,
                               policy=POLICY, now=NOW)
    assert (inp.features.tier, inp.features.clv_cents, inp.features.birthday_in_days) == ("gold", 12_345, 10)
    assert inp.local_date == date(2026, 3, 10) and inp.send_at == NOW


def test_send_time_follows_quiet_hours_in_the_guests_zone() -> None:
    late = NOW + timedelta(hours=10)  # 22:00 in New York
    inp = assemble_draft_input(facts=guest(), features=DraftFeatures(), catalog=CATALOG, policy=POLICY, now=late)
    assert inp.send_at == datetime(2026, 3, 11, 13, 0, tzinfo=UTC)  # 09:00 local
    bad_zone = assemble_draft_input(facts=guest(timezone="Mars/Olympus"), features=DraftFeatures(),
                                    catalog=CATALOG, policy=POLICY, now=late)
    assert bad_zone.send_at == inp.send_at  # the policy's default zone, as the rules use


def test_history_summary_counts_what_reaches_the_guest() -> None:
    def entry(days: float, **changes: object) -> OfferHistoryEntry:
        return OfferHistoryEntry.model_validate({"at": NOW - timedelta(days=days), "channel": "sms", **changes})

    history = [
        entry(40, strategy="birthday"),
        entry(12, status="scheduled", strategy="favourite", offer_type="percent_off_item"),
        entry(3, trigger="message"),  # a loose message: counted, but not "the last offer"
        entry(1, status="pending_review"),  # not sent: the fatigue rule counts it, the summary does not
    ]
    summary = summarize_history(history, NOW)
    assert summary.offers_last_30d == 2
    assert (summary.last_offer_days_ago, summary.last_offer_strategy) == (12, "favourite")


def test_limits_are_the_policys() -> None:
    policy = policy_from_mapping({"sms": {"max_length": 140, "opt_out_text": "Text STOP to end"},
                                  "fatigue": {"min_hours_between_any": 72}, "max_discount_pct": 20,
                                  "unknown_allergy_action": "escalate"})
    limits = OfferLimits.from_policy(policy)
    assert limits.sms.max_length == 140 and limits.sms.opt_out_text == "Text STOP to end"
    assert limits.fatigue.min_hours_between_any == 72 and limits.max_discount_pct == 20
    assert limits.excluded_allergens_when_unknown == []
    assert OfferLimits.from_policy(POLICY).excluded_allergens_when_unknown == list(POLICY.top9_allergens)
