"""Property: the offline drafter writes to the merchant's policy, whatever the policy says.

Hypothesis generates merchant policies (SMS length and opt-out text, placeholder budgets, fatigue
gaps and caps, discount and value caps, margin floors, free-item allowance, point value, unknown
allergy handling, subject length), guests (consents, opt-out, allergies, age, timezone) with
signals for every strategy, and offer histories. The draft input is assembled by the product's one
function (`assemble_draft_input`), and the draft is checked by `evaluate` exactly as the graph
checks it: an offer is never blocked by a rule whose limits the drafter was given. "No offer" is
always an acceptable answer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agent.draft_input import Complement, DraftFeatures, FavouriteItem, assemble_draft_input
from agent.offline_drafter import OfflineDrafter
from core.schemas import CatalogFact, CustomerFacts, OfferHistoryEntry
from guardrails import GuardrailContext, evaluate
from guardrails.policy import Policy, policy_from_mapping
from sandbox.menu import MENU

CATALOG = {
    item.sku: CatalogFact(
        sku=item.sku, name=item.name, category=item.category, subcategory=item.subcategory,
        price_cents=item.price_cents, unit_cost_cents=item.unit_cost_cents, allergens=list(item.allergens),
        contains_alcohol=item.contains_alcohol,
    )
    for item in MENU
}
SKUS = sorted(CATALOG)
NOW = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)
OPT_OUTS = ["Reply STOP to opt out", "Text STOP to end", "STOP=stop", "Antworte STOP zum Abmelden",
            "Répondez STOP", "Ответьте STOP", "Reply STOP to opt out of all Harbor & Vine messages"]


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    caps = draw(st.lists(
        st.fixed_dictionaries({
            "channel": st.sampled_from(["sms", "email", "all"]),
            "max_messages": st.sampled_from([0, 1, 2, 4, 10]),
            "window_days": st.integers(1, 30),
        }),
        max_size=2,
    ))
    document: dict[str, Any] = {
        "min_margin_pct": draw(st.sampled_from([0, 10, 25, 30, 33.3, 50, 65, 80, 95])),
        "max_discount_pct": draw(st.sampled_from([0, 5, 9.9, 10, 12.5, 15, 20, 27.5, 30, 50, 100])),
        "max_offer_value_cents": draw(st.sampled_from([0, 100, 250, 500, 999, 1500, 5000])),
        "free_item_max_price_cents": draw(st.sampled_from([0, 500, 900, 1500, 5000])),
        "point_value_cents": draw(st.sampled_from([0, 0.1, 0.5, 1, 2.5, 10])),
        "allow_unknown_allergy_offers_on_top9": draw(st.booleans()),
        "unknown_allergy_action": draw(st.sampled_from(["block", "escalate"])),
        "fatigue": {
            "min_hours_between_any": draw(st.sampled_from([0, 12, 48, 100, 400])),
            "caps": caps,
        },
        "quiet_hours": {"start": draw(st.sampled_from(["21:00", "08:00", "00:00"])),
                        "end": draw(st.sampled_from(["09:00", "23:30", "00:00"]))},
        "sms": {
            "max_length": draw(st.integers(20, 400)),
            "max_length_unicode": draw(st.integers(20, 200)),
            "opt_out_text": draw(st.sampled_from(OPT_OUTS)),
            "first_name_budget": draw(st.integers(0, 20)),
            "promo_code_length": draw(st.integers(0, 16)),
        },
        "email": {"max_subject_length": draw(st.integers(10, 120))},
    }
    return policy_from_mapping(document)


@st.composite
def guests(draw: st.DrawFn) -> CustomerFacts:
    allergies = draw(st.one_of(st.none(), st.lists(
        st.sampled_from(["dairy", "milk", "gluten", "eggs", "fish", "shellfish", "tree nuts", "peanut", "soy",
                         "sesame"]), max_size=3)))
    return CustomerFacts(
        pseudonym="g_" + draw(st.text("abcdef0123456789", min_size=16, max_size=16)),
        tier=draw(st.sampled_from(["member", "silver", "gold", "vip"])),
        age_verified=draw(st.booleans()),
        birthday=draw(st.one_of(st.none(), st.dates(date(1950, 1, 1), date(2010, 12, 31)),
                                st.integers(0, 40).map(lambda d: date(1990, 3, 10) + timedelta(days=d)))),
        allergies=allergies,
        consent_sms=draw(st.integers(0, 9)) < 8,
        consent_email=draw(st.booleans()),
        consent_alcohol_marketing=draw(st.booleans()),
        opted_out=draw(st.integers(0, 9)) == 0,
        timezone=draw(st.sampled_from(["America/New_York", "America/Los_Angeles", "Europe/Paris", "Not/AZone"])),
        location_alcohol_policy=draw(st.sampled_from(["allowed", "allowed", "forbidden"])),
        clv_cents=draw(st.integers(0, 300_000)),
        visits_12m=draw(st.integers(0, 30)),
    )


@st.composite
def features(draw: st.DrawFn) -> DraftFeatures:
    favourites = [
        FavouriteItem(sku=sku, name=CATALOG[sku].name, category=CATALOG[sku].category, count=draw(st.integers(1, 9)),
                      last_ordered_days_ago=draw(st.integers(0, 90)),
                      typical_interval_days=draw(st.sampled_from([None, 7.0, 14.0, 30.0])),
                      next_expected_in_days=draw(st.sampled_from([None, -10.0, -1.0, 0.0, 3.0, 6.0, 20.0])))
        for sku in draw(st.lists(st.sampled_from(SKUS), max_size=3, unique=True))
    ]
    return DraftFeatures(
        favourite_items=favourites,
        favourite_categories=draw(st.lists(st.sampled_from(sorted({i.category for i in CATALOG.values()})),
                                           max_size=2, unique=True)),
        visits_12m=draw(st.integers(1, 30)),
        avg_interval_days=draw(st.sampled_from([None, 10.0, 21.0, 40.0])),
        days_since_last_visit=draw(st.sampled_from([None, 0, 5, 30, 120])),
        expected_next_visit_in_days=draw(st.sampled_from([None, 2.0, 12.0])),
        churn_risk=draw(st.sampled_from([0.0, 0.3, 0.65, 0.9])),
        p_alive=draw(st.sampled_from([0.1, 0.5, 0.95])),
        spend_per_visit_cents=draw(st.sampled_from([1500, 3000, 6000])),
        lapsed=draw(st.booleans()),
        next_tier=draw(st.sampled_from([None, "gold"])),
        points_to_next_tier=draw(st.sampled_from([None, 30, 120, 199, 500])),
    )


HISTORY = st.lists(
    st.builds(
        lambda hours, channel, status, trigger: OfferHistoryEntry(
            at=NOW + timedelta(hours=hours), channel=channel, status=status, trigger=trigger,
            offer_type=None if trigger == "message" else "percent_off_item",
        ),
        st.integers(-24 * 60, 24),
        st.sampled_from(["sms", "email"]),
        st.sampled_from(["sent", "scheduled", "pending_review"]),
        st.sampled_from(["transaction", "campaign", "message"]),
    ),
    max_size=3,
)
COMPLEMENTS = st.lists(
    st.builds(lambda sku, score: Complement(sku=sku, name=CATALOG[sku].name, score=score),
              st.sampled_from(SKUS), st.sampled_from([0.1, 0.2, 0.5, 0.9])),
    max_size=4, unique_by=lambda c: c.sku,
)
TIGHT_SMS = policy_from_mapping({"sms": {"max_length": 140, "opt_out_text": "Text STOP to end"}})
REGULAR = DraftFeatures(
    favourite_items=[FavouriteItem(sku="SALMON-ENTREE", name="Grilled Salmon", category="mains", count=6,
                                   typical_interval_days=21.0, next_expected_in_days=2.0)],
    visits_12m=8, days_since_last_visit=19,
)
GUEST = CustomerFacts(pseudonym="g_0123456789abcdef", allergies=[], consent_sms=True)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=policies(), facts=guests(), feats=features(), history=HISTORY, complements=COMPLEMENTS,
       sale=st.lists(st.sampled_from(SKUS), max_size=2), hours=st.integers(0, 23))
@example(policy=TIGHT_SMS, facts=GUEST, feats=REGULAR, history=[], complements=[], sale=[], hours=0)
def test_offline_drafts_pass_or_make_no_offer_under_any_policy(
    policy: Policy, facts: CustomerFacts, feats: DraftFeatures, history: list[OfferHistoryEntry],
    complements: list[Complement], sale: list[str], hours: int,
) -> None:
    now = NOW + timedelta(hours=hours)
    inp = assemble_draft_input(
        facts=facts, features=feats, catalog=CATALOG, policy=policy, now=now, history=history,
        sale_lines=[(sku, CATALOG[sku].name) for sku in sale], purchased_skus=sale, complements=complements,
    )
    offer = OfflineDrafter().draft(inp).offer
    report = evaluate(GuardrailContext(offer=offer, customer=facts, catalog=CATALOG, history=history,
                                       policy=policy, now=now))
    assert not offer.make_offer or report.verdict != "block", (offer, [r for r in report.results
                                                                        if r.verdict == "block"])


def test_tight_sms_policy_yields_drafts_that_pass() -> None:
    """The issue's case: `sms.max_length: 140` and the merchant's own opt-out text. The offline SMS
    drafts for every strategy pass the copy rule and carry that text."""
    signals: list[dict[str, Any]] = [
        {},  # the favourite is due
        {"favourite_items": [], "next_tier": "gold", "points_to_next_tier": 120},
        {"churn_risk": 0.9, "lapsed": True, "visits_12m": 12, "days_since_last_visit": 60},
    ]
    birthday_guest = GUEST.model_copy(update={"birthday": date(1990, 3, 20)})
    drafted = 0
    for guest, changes in [(GUEST, s) for s in signals] + [(birthday_guest, {})]:
        inp = assemble_draft_input(facts=guest, features=REGULAR.model_copy(update=changes), catalog=CATALOG,
                                   policy=TIGHT_SMS, now=NOW)
        offer = OfflineDrafter().draft(inp).offer
        assert offer.make_offer and offer.channel == "sms" and offer.sms_text, offer.rationale
        assert offer.sms_text.endswith("Text STOP to end")
        report = evaluate(GuardrailContext(offer=offer, customer=guest, catalog=CATALOG, history=[],
                                           policy=TIGHT_SMS, now=NOW))
        copy = next(r for r in report.results if r.rule == "copy")
        assert copy.verdict == "pass", copy.reason
        assert report.verdict != "block"
        drafted += 1
    assert drafted == 4
