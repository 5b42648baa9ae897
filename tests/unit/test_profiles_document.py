"""Profile and purchase documents: deterministic, pseudonymous, phrased for search."""

from __future__ import annotations

from datetime import timedelta

from loyalty_agent.schemas import CustomerFacts
from profiles.document import interval_phrase, profile_document, purchase_document
from profiles.features import ProfileFeatures, compute_features
from tests.unit.test_profiles_features import BENEDICT, MIMOSA, PANCAKES, local, salmon_regular, visit


def _regular_features() -> ProfileFeatures:
    visits = salmon_regular(n=10)
    f = compute_features(visits, now=visits[-1].occurred_at + timedelta(days=4))
    assert f is not None
    return f


FACTS = CustomerFacts(
    pseudonym="g_3f9a2c",
    tier="gold",
    allergies=["shellfish"],
    timezone="America/New_York",
)


def test_profile_document_content() -> None:
    doc = profile_document(_regular_features(), FACTS)
    assert doc.startswith("Guest g_3f9a2c (gold tier). Regular, visits about every 3 weeks, mostly Friday dinner.")
    assert "Favourites: House Merlot (10x), Grilled Salmon (10x), Tiramisu (6x)." in doc
    assert "Wine lover: often orders wine (100% of visits)." in doc
    assert "Orders dessert on 60% of visits." in doc
    assert "Typical visit: dinner on Fridays." in doc
    assert "Orders House Merlot about every 3 weeks" in doc
    assert "Churn risk low" in doc


def test_profile_document_is_deterministic_and_carries_no_health_or_contact_data() -> None:
    features = _regular_features()
    doc = profile_document(features, FACTS)
    assert doc == profile_document(features.model_copy(deep=True), FACTS.model_copy())
    assert "shellfish" not in doc and "allerg" not in doc.lower() and "@" not in doc


def test_lapsed_high_spender_wording() -> None:
    visits = salmon_regular(n=14)
    f = compute_features(visits, now=visits[-1].occurred_at + timedelta(days=90))
    assert f is not None and f.lapsed
    doc = profile_document(f, FACTS)
    assert "Lapsed guest, last visit 90 days ago" in doc
    assert "overdue for a visit" in doc


def test_purchase_document_uses_local_day_and_quantities() -> None:
    brunch = visit(local(2025, 11, 9, 11, 0), BENEDICT, MIMOSA, PANCAKES)
    assert purchase_document(brunch) == "Sunday brunch: Eggs Benedict, Mimosa, Kids Pancakes x2"


def test_interval_phrases() -> None:
    assert [interval_phrase(d) for d in (1, 4, 7, 21, 30, 45, 61, 400)] == [
        "day", "4 days", "week", "3 weeks", "4 weeks", "month", "2 months", "year"
    ]
