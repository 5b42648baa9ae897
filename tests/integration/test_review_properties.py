"""Property: no side effect ever happens for an offer whose rules fail at execution time.

Hypothesis drives random sequences of guest-profile changes (allergies, opt-out, SMS and alcohol consent,
age verification, timezone; recorded with or without the worker's re-check) and review actions (manager
and marketer accepts, rejects, copy edits, term edits, absurd edits) against the real offer graph on
SQLite. The expected verdict comes from an oracle written from the rules' semantics, not from the
guardrails code: if the guest as they are at the moment of an accept (or a manager's edit) may not get the
offer, no promo code, points or message may exist for it; if they may, it executes exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.review import ReviewConflict, ReviewError, ReviewForbidden
from core.schemas import OfferDraft
from db.engine import make_engine, migrate
from db.tables import Customer
from tests.integration.offer_review_world import MAC, MANAGER, MARKETER, POINTS, WINE, World, build_world

NOTHING = {"promo_codes": 0, "points": 0, "messages": 0}
DAIRY_WORDS = {"dairy", "milk", "lactose", "wheat", "gluten"}  # Mac & Cheese: milk, wheat

PROFILE_CHANGES = st.one_of(
    st.fixed_dictionaries({"allergies": st.sampled_from([["dairy"], [], ["shellfish"], ["gluten"]])}),
    st.fixed_dictionaries({"opted_out": st.booleans()}),
    st.fixed_dictionaries({"sms": st.booleans()}),
    st.fixed_dictionaries({"alcohol_marketing": st.booleans()}),
    st.fixed_dictionaries({"age_verified": st.booleans()}),
    st.fixed_dictionaries({"timezone": st.sampled_from(["America/New_York", "Asia/Tokyo"])}),
)
REVIEW_ACTIONS = st.sampled_from(
    ["accept", "marketer_accept", "reject", "marketer_reject", "marketer_copy", "manager_terms", "absurd"]
)
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("profile"), PROFILE_CHANGES, st.booleans()),
        st.tuples(st.just("review"), REVIEW_ACTIONS, st.none()),
    ),
    min_size=1,
    max_size=7,
)


def rules_fail(kind: str, customer: Customer) -> bool:
    """The oracle: may this guest, as they are, get this offer by SMS at all?"""
    if customer.opted_out_at is not None or not customer.consent_sms:
        return True
    if kind == "mac" and DAIRY_WORDS & set(customer.allergies or []):
        return True
    return kind == "wine" and not (customer.consent_alcohol_marketing and customer.age_verified)


def term_edit(kind: str) -> dict[str, Any]:
    if kind == "points":
        return {"bonus_points": 100,
                "sms_text": "Hi {first_name}, 100 bonus points are waiting on your next visit. Reply STOP to opt out"}
    dish = "our Mac & Cheese" if kind == "mac" else "a glass of House Red"
    return {"discount_pct": 5.0, "sms_text": f"Hi {{first_name}}, 5% off {dish} this week. Code {{promo_code}}. "
                                             "Reply STOP to opt out"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("review_properties")
    url = f"sqlite:///{tmp / 'test.db'}"
    migrate(url)
    engine: Engine = make_engine(url)
    yield build_world(url, engine, tmp)
    engine.dispose()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(offer_kind=st.sampled_from(["mac", "wine", "points"]), steps=STEPS)
def test_no_side_effect_for_an_offer_whose_rules_fail_at_execution(
    world: World, offer_kind: str, steps: list[tuple[str, Any, Any]]
) -> None:
    draft: OfferDraft = {"mac": MAC, "wine": WINE, "points": POINTS}[offer_kind]
    guest = world.guest()
    offer_id = world.pending_offer(guest, draft).id

    def customer() -> Customer:
        with Session(world.engine) as s:
            row = s.get(Customer, guest)
            assert row is not None
            return row

    def review(decision: dict[str, Any]) -> str | None:
        try:
            return world.agent.review(offer_id, decision)
        except (ReviewConflict, ReviewError, ReviewForbidden):
            return None

    # Every sequence ends with a manager's accept, so every example reaches an execution decision.
    for kind, what, recheck in [*steps, ("review", "accept", None)]:
        before = world.offer(offer_id).status
        fails = rules_fail(offer_kind, customer())
        if kind == "profile":
            world.update_profile(guest, recheck=recheck, **what)
            after = world.offer(offer_id).status
            if recheck and before == "pending_review" and rules_fail(offer_kind, customer()):
                assert after == "blocked", (what, after)
        elif what in ("accept", "manager_terms"):
            decision = {"action": "accept", **MANAGER} if what == "accept" else {
                "action": "edit", "edits": term_edit(offer_kind), **MANAGER}
            outcome = review(decision)
            if before != "pending_review":
                assert outcome is None
            elif fails:  # the guest, as they are at execution, may not get it
                assert outcome == "blocked" and world.side_effects(offer_id) == NOTHING
            else:
                assert outcome == "sent"
                effects = world.side_effects(offer_id)
                assert effects["messages"] == 1 and effects["promo_codes"] + effects["points"] == 1
        elif what == "marketer_accept":
            assert review({"action": "accept", **MARKETER}) is None
            assert world.offer(offer_id).status == before
        elif what in ("reject", "marketer_reject"):
            outcome = review({"action": "reject", **(MANAGER if what == "reject" else MARKETER)})
            assert (outcome == "rejected") == (before == "pending_review")
        elif what == "marketer_copy":
            outcome = review({"action": "edit", "edits": {"sms_text": draft.sms_text}, **MARKETER})
            if before == "pending_review":
                assert outcome == ("blocked" if fails else "pending_review")
        else:  # absurd
            assert review({"action": "edit", "edits": {"bonus_points": 10**19}, **MANAGER}) is None
            assert world.offer(offer_id).status == before
        status = world.offer(offer_id).status
        assert status != "reviewing"  # no path leaves a claim behind
        if status in ("pending_review", "blocked", "rejected"):
            assert world.side_effects(offer_id) == NOTHING, (status, steps)
        if status == "sent":
            assert world.side_effects(offer_id)["promo_codes"] + world.side_effects(offer_id)["points"] == 1
    points = customer().points
    assert points in (0, POINTS.bonus_points, 100)
