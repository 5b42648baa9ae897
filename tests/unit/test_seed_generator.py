"""The sandbox generator without a database: menu facts, determinism, behavioural realism."""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from db.pseudonyms import SANDBOX_PSEUDONYM_SECRET, make_pseudonym
from sandbox.history import generate_sandbox
from sandbox.menu import CATEGORIES, MENU, MENU_BY_SKU, TOP9_ALLERGENS
from sandbox.personas import PERSONAS, sandbox_customer_personas
from sandbox.restaurant import (
    DEFAULT_END,
    MERCHANT_ID,
    SANDBOX_LOCATIONS,
    SandboxCustomer,
    SandboxData,
    SandboxTransaction,
)

LOCATION_TZ = {loc.id: ZoneInfo(loc.timezone) for loc in SANDBOX_LOCATIONS}
ALCOHOL_SKUS = {item.sku for item in MENU if item.contains_alcohol}
SAMPLE_CUSTOMERS = 1200


@pytest.fixture(scope="module")
def sandbox() -> SandboxData:
    # Defaults except the population, trimmed to keep the file fast; enough for every persona.
    return generate_sandbox(customers=SAMPLE_CUSTOMERS)


@pytest.fixture(scope="module")
def visits(sandbox: SandboxData) -> dict[str, list[SandboxTransaction]]:
    by_customer: dict[str, list[SandboxTransaction]] = defaultdict(list)
    for txn in sandbox.transactions:
        if txn.pos_customer_id is not None:
            by_customer[txn.pos_customer_id].append(txn)
    for txns in by_customer.values():
        txns.sort(key=lambda t: t.occurred_at)
    return by_customer


def _with_persona(sandbox: SandboxData, persona: str) -> list[SandboxCustomer]:
    return [c for c in sandbox.customers if c.personas[0] == persona]


def _local(txn: SandboxTransaction) -> datetime:
    return txn.occurred_at.astimezone(LOCATION_TZ[txn.location_id])


def _share(values: list[bool]) -> float:
    assert values, "no observations: the persona is missing from the sample"
    return sum(values) / len(values)


# --- menu -------------------------------------------------------------------------------------------


def test_menu_is_large_varied_and_priced_with_sane_margins() -> None:
    assert len(MENU) >= 60
    assert len({item.sku for item in MENU}) == len(MENU)
    assert {item.category for item in MENU} == set(CATEGORIES)
    for item in MENU:
        assert re.fullmatch(r"[A-Z0-9]+(-[A-Z0-9]+)*", item.sku), item.sku
        assert 0 < item.unit_cost_cents < item.price_cents
        assert 20.0 <= item.margin_pct <= 80.0, (item.sku, item.margin_pct)
        assert set(item.allergens) <= set(TOP9_ALLERGENS), item.sku


def test_allergens_match_the_dishes() -> None:
    assert set(MENU_BY_SKU["SALMON-ENTREE"].allergens) == {"fish"}
    assert set(MENU_BY_SKU["SHRIMP-SCAMPI"].allergens) == {"shellfish", "milk", "wheat"}
    assert set(MENU_BY_SKU["PAD-THAI"].allergens) >= {"peanuts", "soy", "eggs", "fish"}
    assert "fish" in MENU_BY_SKU["CAESAR-SALAD"].allergens  # anchovy dressing
    assert "sesame" in MENU_BY_SKU["HUMMUS-PLATE"].allergens  # tahini
    assert "fish" in MENU_BY_SKU["COCKTAIL-BLOODY-MARY"].allergens  # Worcestershire
    assert "tree_nuts" in MENU_BY_SKU["PESTO-PASTA"].allergens
    assert MENU_BY_SKU["SORBET-TRIO"].allergens == ()
    # Every allergen of the top 9 is carried by at least one dish, so each guardrail case is testable.
    assert {a for item in MENU for a in item.allergens} == set(TOP9_ALLERGENS)


def test_alcohol_flags() -> None:
    alcoholic_subcategories = {MENU_BY_SKU[sku].subcategory for sku in ALCOHOL_SKUS}
    assert {"wine_red", "wine_white", "wine_sparkling", "beer", "cocktail"} <= alcoholic_subcategories
    assert any("(glass)" in MENU_BY_SKU[s].name for s in ALCOHOL_SKUS)
    assert any("(bottle)" in MENU_BY_SKU[s].name for s in ALCOHOL_SKUS)
    for item in MENU:
        if item.subcategory in {"coffee", "soft", "mocktail"} or item.category == "kids":
            assert not item.contains_alcohol, item.sku
        if item.subcategory in {"beer", "cocktail"} or (item.subcategory or "").startswith("wine"):
            assert item.contains_alcohol, item.sku
    assert MENU_BY_SKU["TIRAMISU"].contains_alcohol  # marsala: an alcoholic dessert on purpose


# --- determinism and ground truth -----------------------------------------------------------------


def test_same_seed_same_data_and_other_seed_differs() -> None:
    first = generate_sandbox(customers=150, months=6, seed=7)
    again = generate_sandbox(customers=150, months=6, seed=7)
    other = generate_sandbox(customers=150, months=6, seed=8)
    assert first == again
    assert first.customers != other.customers
    assert first.transactions != other.transactions


def test_customer_is_the_same_person_whatever_the_population_size() -> None:
    small = generate_sandbox(customers=40, seed=3)
    large = generate_sandbox(customers=120, seed=3)
    assert small.customers == large.customers[:40]
    small_ids = {c.pos_customer_id for c in small.customers}
    assert [t for t in small.transactions if t.pos_customer_id] == [
        t for t in large.transactions if t.pos_customer_id in small_ids
    ]


def test_persona_ground_truth_without_generating(sandbox: SandboxData) -> None:
    truth = sandbox_customer_personas(42, SAMPLE_CUSTOMERS, 12)
    assert truth == sandbox.personas()
    assert {labels[0] for labels in truth.values()} == set(PERSONAS)
    regulars = [labels for labels in truth.values() if labels[0] == "regular"]
    assert all(any(label.startswith("signature:") for label in labels) for labels in regulars)


def test_pseudonyms_are_hmacs(sandbox: SandboxData) -> None:
    for customer in sandbox.customers[:50]:
        assert customer.pseudonym == make_pseudonym(MERCHANT_ID, customer.pos_customer_id, SANDBOX_PSEUDONYM_SECRET)
        assert re.fullmatch(r"g_[0-9a-f]{16}", customer.pseudonym)
    assert len({c.pseudonym for c in sandbox.customers}) == len(sandbox.customers)
    assert make_pseudonym("m", "c", "k1") != make_pseudonym("m", "c", "k2")
    assert make_pseudonym("m", "c", b"k1") == make_pseudonym("m", "c", "k1")


# --- transactions are internally consistent ---------------------------------------------------------


def test_transactions_are_consistent(sandbox: SandboxData) -> None:
    window_start = datetime.combine(sandbox.start, time(), tzinfo=UTC)
    window_end = datetime.combine(DEFAULT_END, time(), tzinfo=UTC)
    assert sandbox.end == DEFAULT_END and sandbox.start == date(2025, 11, 1)
    ids = [t.pos_transaction_id for t in sandbox.transactions]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"txn_[0-9a-f]{16}", i) for i in ids)
    for txn in sandbox.transactions:
        assert txn.occurred_at.tzinfo is not None and txn.occurred_at.utcoffset() == timedelta(0)
        assert window_start - timedelta(days=1) <= txn.occurred_at < window_end
        assert txn.lines and txn.party_size >= 1
        assert txn.total_cents == sum(line.quantity * line.unit_price_cents for line in txn.lines)
        for line in txn.lines:
            item = MENU_BY_SKU[line.sku]
            assert (line.name, line.unit_price_cents) == (item.name, item.price_cents)
            assert line.quantity >= 1
        if txn.location_id == "loc_2":  # the campus site sells no alcohol
            assert not ALCOHOL_SKUS & {line.sku for line in txn.lines}
    assert sum(1 for t in sandbox.transactions if t.pos_customer_id is None) > 500  # walk-ins


def test_customers_are_consistent_with_their_history(
    sandbox: SandboxData, visits: dict[str, list[SandboxTransaction]]
) -> None:
    thresholds = {"vip": 300_000, "gold": 120_000, "silver": 50_000, "member": 0}
    for customer in sandbox.customers:
        txns = visits.get(customer.pos_customer_id, [])
        spend = sum(t.total_cents for t in txns)
        assert customer.points_earned == spend // 100
        assert 0 <= customer.points <= customer.points_earned
        assert spend >= thresholds[customer.tier]
        better = [t for t, floor in thresholds.items() if floor > thresholds[customer.tier]]
        assert all(spend < thresholds[t] for t in better), (customer.pos_customer_id, customer.tier, spend)
        assert customer.created_at.tzinfo is not None
        assert customer.opted_out_at is None or customer.created_at <= customer.opted_out_at <= customer.updated_at
        if txns:
            assert customer.created_at <= txns[0].occurred_at
            assert customer.updated_at >= txns[-1].occurred_at
    tiers = {c.tier for c in sandbox.customers}
    assert tiers == {"member", "silver", "gold", "vip"}


# --- population mix --------------------------------------------------------------------------------


def test_allergies_share_and_unknowns(sandbox: SandboxData) -> None:
    n = len(sandbox.customers)
    with_allergies = sum(1 for c in sandbox.customers if c.allergies) / n
    unknown = sum(1 for c in sandbox.customers if c.allergies is None) / n
    assert 0.11 <= with_allergies <= 0.19
    assert 0.34 <= unknown <= 0.46
    assert any(c.allergies == () for c in sandbox.customers)  # known to have none
    declared = {a for c in sandbox.customers for a in (c.allergies or ())}
    assert declared == set(TOP9_ALLERGENS)


def test_guests_never_order_what_they_are_allergic_to(
    sandbox: SandboxData, visits: dict[str, list[SandboxTransaction]]
) -> None:
    for customer in sandbox.customers:
        if not customer.allergies:
            continue
        for txn in visits.get(customer.pos_customer_id, []):
            for line in txn.lines:
                assert not set(customer.allergies) & set(MENU_BY_SKU[line.sku].allergens)


def test_consents_ages_and_minors(sandbox: SandboxData, visits: dict[str, list[SandboxTransaction]]) -> None:
    customers = sandbox.customers
    n = len(customers)
    assert 0.45 <= sum(c.consent_sms for c in customers) / n <= 0.65
    assert 0.55 <= sum(c.consent_email for c in customers) / n <= 0.75
    assert 0 < sum(c.consent_alcohol_marketing for c in customers) / n < 0.6
    assert any(c.opted_out_at is not None for c in customers)
    assert any(not c.age_verified and not c.is_minor_on(DEFAULT_END) for c in customers)  # unverified adults
    assert any(c.birthday is None for c in customers)
    minors = [c for c in customers if c.is_minor_on(DEFAULT_END)]
    assert 0.02 <= len(minors) / n <= 0.08
    assert not any(c.age_verified for c in minors)
    assert any(c.consent_alcohol_marketing for c in minors)  # the alcohol guardrail must still refuse these
    assert {c.timezone for c in customers} > {loc.timezone for loc in SANDBOX_LOCATIONS}


def test_alcohol_never_in_a_minors_basket(sandbox: SandboxData, visits: dict[str, list[SandboxTransaction]]) -> None:
    checked = 0
    for customer in sandbox.customers:
        for txn in visits.get(customer.pos_customer_id, []):
            if customer.is_minor_on(txn.occurred_at.date()):
                checked += 1
                assert not ALCOHOL_SKUS & {line.sku for line in txn.lines}, txn
    assert checked > 30


def test_staff_notes_carry_pii_and_injection_test_material(sandbox: SandboxData) -> None:
    notes = [c.contact.notes for c in sandbox.customers if c.contact.notes]
    assert 0.2 <= len(notes) / len(sandbox.customers) <= 0.4
    assert any(re.search(r"\b\d{3}-555-01\d\d\b", n) for n in notes)  # phone numbers
    assert any(re.search(r"\b(?:\d[ -]?){13,16}\b", n) for n in notes)  # card-like numbers
    assert any("ignore previous instructions" in n.lower() for n in notes)
    contacts = [c.contact for c in sandbox.customers]
    assert all(c.given_name and c.family_name for c in contacts)
    assert sum(1 for c in contacts if c.email) / len(contacts) > 0.7
    assert all(c.email is None or c.email.split("@")[1].startswith("example.") for c in contacts)
    assert all(c.phone is None or re.fullmatch(r"\+1\d{3}55501\d\d", c.phone) for c in contacts)


# --- behaviour by persona ----------------------------------------------------------------------------


def test_salmon_regulars_come_every_three_weeks_for_salmon(
    sandbox: SandboxData, visits: dict[str, list[SandboxTransaction]]
) -> None:
    regulars = [c for c in sandbox.customers if c.signature_sku == "SALMON-ENTREE"]
    assert len(regulars) >= 30
    gaps: list[float] = []
    with_salmon: list[bool] = []
    for customer in regulars:
        txns = visits[customer.pos_customer_id]
        gaps += [(b.occurred_at - a.occurred_at).total_seconds() / 86400 for a, b in pairwise(txns)]
        with_salmon += [any(line.sku == "SALMON-ENTREE" for line in t.lines) for t in txns]
    assert 18 <= statistics.median(gaps) <= 24
    assert _share(with_salmon) >= 0.75


def test_brunch_crowd_comes_weekend_late_mornings(
    sandbox: SandboxData, visits: dict[str, list[SandboxTransaction]]
) -> None:
    weekend_brunch: list[bool] = []
    brunch_items: list[bool] = []
    for customer in _with_persona(sandbox, "brunch_crowd"):
        for txn in visits.get(customer.pos_customer_id, []):
            local = _local(txn)
            is_brunch = local.weekday() >= 5 and time(10) <= local.time() < time(14)
            weekend_brunch.append(is_brunch)
            if is_brunch:
                brunch_items.append(any(MENU_BY_SKU[line.sku].category == "brunch" for line in txn.lines))
    assert _share(weekend_brunch) >= 0.8
    assert _share(brunch_items) >= 0.9
    # Brunch dishes are only sold at weekend brunch time, to anyone.
    for txn in sandbox.transactions:
        if any(MENU_BY_SKU[line.sku].category == "brunch" for line in txn.lines):
            local = _local(txn)
            assert local.weekday() >= 5 and time(10) <= local.time() < time(14), txn


def test_wine_lovers_drink_wine(sandbox: SandboxData, visits: dict[str, list[SandboxTransaction]]) -> None:
    def has_wine(txn: SandboxTransaction) -> bool:
        return any((MENU_BY_SKU[line.sku].subcategory or "").startswith("wine") for line in txn.lines)

    lovers = [has_wine(t) for c in _with_persona(sandbox, "wine_lover") for t in visits.get(c.pos_customer_id, [])
              if t.location_id == "loc_1"]
    others = [has_wine(t) for c in _with_persona(sandbox, "occasional") for t in visits.get(c.pos_customer_id, [])
              if t.location_id == "loc_1"]
    assert _share(lovers) >= 0.8
    assert _share(others) < 0.6


def test_families_order_kids_menu_and_dessert_lovers_desserts(
    sandbox: SandboxData, visits: dict[str, list[SandboxTransaction]]
) -> None:
    def has(category: str, txn: SandboxTransaction) -> bool:
        return any(MENU_BY_SKU[line.sku].category == category for line in txn.lines)

    family = [t for c in _with_persona(sandbox, "family") for t in visits.get(c.pos_customer_id, [])]
    assert _share([has("kids", t) for t in family]) >= 0.9
    assert _share([t.party_size >= 3 for t in family]) == 1.0
    assert _share([_local(t).weekday() >= 5 for t in family]) >= 0.5
    not_family = [t for c in _with_persona(sandbox, "wine_lover") for t in visits.get(c.pos_customer_id, [])]
    assert _share([has("kids", t) for t in not_family]) == 0.0
    dessert = [t for c in _with_persona(sandbox, "dessert_lover") for t in visits.get(c.pos_customer_id, [])]
    assert _share([has("desserts", t) for t in dessert]) >= 0.9


def test_lapsed_vips_spent_big_then_stopped(sandbox: SandboxData, visits: dict[str, list[SandboxTransaction]]) -> None:
    lapsed = _with_persona(sandbox, "lapsed_vip")
    assert lapsed
    cutoff = datetime.combine(DEFAULT_END - timedelta(days=90), time(), tzinfo=UTC)
    for customer in lapsed:
        txns = visits[customer.pos_customer_id]
        assert len(txns) >= 5
        assert txns[-1].occurred_at < cutoff
        assert customer.tier in {"gold", "vip"}
    lapsed_avg = statistics.mean(t.total_cents for c in lapsed for t in visits[c.pos_customer_id])
    occasional_avg = statistics.mean(
        t.total_cents for c in _with_persona(sandbox, "occasional") for t in visits.get(c.pos_customer_id, [])
    )
    assert lapsed_avg > 1.4 * occasional_avg


def test_one_timers_business_lunch_and_late_night(
    sandbox: SandboxData, visits: dict[str, list[SandboxTransaction]]
) -> None:
    assert all(len(visits.get(c.pos_customer_id, [])) <= 1 for c in _with_persona(sandbox, "one_timer"))
    lunches = [_local(t) for c in _with_persona(sandbox, "business_lunch") for t in visits.get(c.pos_customer_id, [])]
    assert _share([d.weekday() < 5 and time(11, 30) <= d.time() < time(14, 30) for d in lunches]) >= 0.95
    bar = [t for c in _with_persona(sandbox, "late_night_bar") for t in visits.get(c.pos_customer_id, [])]
    assert all(t.location_id == "loc_1" for t in bar)
    assert _share([_local(t).time() >= time(21, 30) or _local(t).time() < time(1) for t in bar]) == 1.0
    assert _share([bool(ALCOHOL_SKUS & {line.sku for line in t.lines}) for t in bar]) >= 0.9
