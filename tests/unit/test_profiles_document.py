"""Profile and purchase documents: deterministic, pseudonymous, phrased for search."""

from __future__ import annotations

from datetime import timedelta

from core.schemas import CustomerFacts
from profiles.document import interval_phrase, profile_document, purchase_document, segment_facts, wine_share
from profiles.features import ProfileFeatures, compute_features
from profiles.visits import Visit, VisitLine
from tests.unit.test_profiles_features import (
    BENEDICT,
    CAESAR,
    MIMOSA,
    PANCAKES,
    SALMON,
    TIRAMISU,
    local,
    salmon_regular,
    visit,
)

RED = VisitLine("CAB", "Cabernet Sauvignon (glass)", "drinks", "wine_red", 1, 1400, True)
WHITE = VisitLine("CHARD", "Chardonnay (glass)", "drinks", "wine_white", 1, 1300, True)
IPA = VisitLine("IPA", "Harbor IPA (draft)", "drinks", "beer", 2, 800, True)
NEGRONI = VisitLine("NEGRONI", "Negroni", "drinks", "cocktail", 1, 1500, True)
WINGS = VisitLine("WINGS", "Buffalo Wings", "starters", "fried", 1, 1300)
KIDS_TENDERS = VisitLine("KTEND", "Kids Chicken Tenders & Fries", "kids", "meal", 1, 900)


def _features(visits: list[Visit], *, days_after_last: float = 4) -> ProfileFeatures:
    f = compute_features(visits, now=visits[-1].occurred_at + timedelta(days=days_after_last))
    assert f is not None
    return f


def _regular_features() -> ProfileFeatures:
    return _features(salmon_regular(n=10))


FACTS = CustomerFacts(
    pseudonym="g_3f9a2c",
    tier="gold",
    allergies=["shellfish"],
    timezone="America/New_York",
)


def test_profile_document_leads_with_segment_facts_then_detail() -> None:
    doc = profile_document(_regular_features(), FACTS)
    assert doc.startswith(
        "Loyal regular. Dessert lover. Wine lover. Orders the same dish every time: Grilled Salmon. "
        "Guest g_3f9a2c, gold tier. Comes about every 3 weeks, mostly Friday dinner; "
    )
    assert "Favourites: House Merlot (10x), Grilled Salmon (10x), Tiramisu (6x)." in doc
    assert "Drinks: wine (100% of visits)." in doc
    assert "Dessert on 60% of visits." in doc
    assert "Orders House Merlot about every 3 weeks." in doc
    assert "Churn risk low." in doc
    # No exact dates: they cost word pieces and no search query matches them.
    assert "2025-" not in doc and "2026-" not in doc


def test_profile_document_is_deterministic_and_carries_no_health_or_contact_data() -> None:
    features = _regular_features()
    doc = profile_document(features, FACTS)
    assert doc == profile_document(features.model_copy(deep=True), FACTS.model_copy())
    assert "shellfish" not in doc and "allerg" not in doc.lower() and "@" not in doc


def test_catalog_wine_subcategories_add_up_to_a_wine_lover() -> None:
    """Red and white alternate: neither alone is a majority, together wine is on every visit."""
    start = local(2025, 3, 6, 19, 30)  # a Thursday
    visits = [
        visit(start + timedelta(days=14 * i), SALMON if i % 3 else CAESAR, RED if i % 2 else WHITE) for i in range(8)
    ]
    f = _features(visits)
    assert wine_share(f) == 1.0
    assert "Wine lover" in segment_facts(f)
    doc = profile_document(f, FACTS)
    assert "wine_red" not in doc and "red wine (50% of visits)" in doc and "white wine (50% of visits)" in doc


def test_one_glass_of_wine_is_not_a_habit() -> None:
    f = _features([visit(local(2025, 3, 7, 19, 30), SALMON, RED, TIRAMISU)])
    facts = segment_facts(f)
    assert facts[0] in {"New guest, one visit so far", "One-time guest"}
    assert "Wine lover" not in facts and not any("Dessert" in fact for fact in facts)
    doc = profile_document(f, FACTS)
    assert "Only visit 4 days ago. Ordered " in doc and "Grilled Salmon" in doc
    assert "% of visits" not in doc


def test_late_visits_read_as_late_night_bar() -> None:
    start = local(2025, 3, 6, 22, 45)  # Thursdays after 10pm
    visits = [visit(start + timedelta(days=14 * i), IPA, NEGRONI, WINGS) for i in range(8)]
    f = _features(visits)
    facts = segment_facts(f)
    assert "Late-night bar regular" in facts and "Beer and cocktail drinker" in facts
    doc = profile_document(f, FACTS)
    assert "mostly Thursday late-night (after 10pm)" in doc and " late;" not in doc


def test_weekday_lunch_habit_reads_as_business_lunch() -> None:
    start = local(2025, 3, 3, 12, 30)  # Mondays at lunch
    visits = [visit(start + timedelta(days=14 * i), SALMON if i % 2 else CAESAR) for i in range(8)]
    assert "Weekday business lunch regular" in segment_facts(_features(visits))


def test_family_brunch_and_dessert_facets() -> None:
    start = local(2025, 3, 9, 11, 0)  # Sundays at brunch time
    lines = (BENEDICT, MIMOSA, PANCAKES, KIDS_TENDERS, TIRAMISU)
    visits = [visit(start + timedelta(days=14 * i), *lines) for i in range(6)]
    facts = segment_facts(_features(visits))
    assert "Weekend brunch regular" in facts
    assert "Family with kids, weekend brunch time" in facts
    assert "Dessert lover, always orders dessert" in facts


def test_lapsed_high_spender_wording() -> None:
    visits = salmon_regular(n=14)
    f = _features(visits, days_after_last=90)
    assert f.lapsed
    doc = profile_document(f, FACTS)
    lead = segment_facts(f)[0]
    assert lead.startswith("Lapsed ") and "former regular" in lead and "not seen for 3 months" in lead
    assert doc.startswith(lead + ".")
    assert "Not seen for 90 days" in doc and "overdue for a visit" in doc


def test_purchase_document_uses_local_day_and_quantities() -> None:
    brunch = visit(local(2025, 11, 9, 11, 0), BENEDICT, MIMOSA, PANCAKES)
    assert purchase_document(brunch) == "Sunday brunch: Eggs Benedict, Mimosa, Kids Pancakes x2"


def test_interval_phrases() -> None:
    assert [interval_phrase(d) for d in (1, 4, 7, 21, 30, 45, 61, 400)] == [
        "day", "4 days", "week", "3 weeks", "4 weeks", "month", "2 months", "year"
    ]
