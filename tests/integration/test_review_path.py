"""The review path against the real graph (issue 9): accepted offers are re-checked against the guest as
they are now, roles on review actions, edits stored and audited, bounded edits, the review lease, and
profile changes re-checking pending and scheduled offers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.review import ReviewConflict, ReviewError, ReviewForbidden
from db import offers
from db.engine import session_scope
from db.tables import AuditEvent, Customer, InboxEvent
from db.types import utcnow
from tests.integration.offer_review_world import (
    MAC,
    MANAGER,
    MARKETER,
    NOW,
    OTHER_MANAGER,
    POINTS,
    WINE,
    World,
    build_world,
)
from tools.errors import ToolUnavailable
from tools.marketing.outbox import deliver_due_messages, schedule_message
from tools.marketing.providers import SandboxMessagingProvider
from tools.pos.sandbox import SandboxPos

NOTHING = {"promo_codes": 0, "points": 0, "messages": 0}


@pytest.fixture
def world(database_url: str, engine: Engine, tmp_path: Path) -> Iterator[World]:
    yield build_world(database_url, engine, tmp_path)


def accept(world: World, offer_id: str, who: dict[str, Any] = MANAGER, **extra: Any) -> str:
    return world.agent.review(offer_id, {"action": "accept", **who, **extra})


def audit_nodes(world: World, offer_id: str) -> list[AuditEvent]:
    with Session(world.engine) as s:
        return list(s.exec(select(AuditEvent).where(col(AuditEvent.offer_id) == offer_id)
                           .order_by(col(AuditEvent.id))).all())


def assert_blocked_without_effects(world: World, offer_id: str, rule: str) -> None:
    row = world.offer(offer_id)
    assert row.status == "blocked" and row.verdict == "block"
    assert any(v["rule"] == rule and v["verdict"] == "block" for v in row.verdicts), row.verdicts
    assert row.promo_code is None
    assert world.side_effects(offer_id) == NOTHING
    execute_rows = [a for a in audit_nodes(world, offer_id) if a.node == "execute"]
    assert execute_rows and execute_rows[-1].outputs["executed"] is False
    assert any(v["rule"] == rule and v["verdict"] == "block" for v in execute_rows[-1].verdicts or [])


# -- 1. accept executes on the guest as they are now -------------------------------------------------


@pytest.mark.parametrize(
    ("draft", "change", "rule"),
    [
        (MAC, {"allergies": ["dairy"]}, "allergens"),
        (MAC, {"opted_out": True}, "consent"),
        (MAC, {"sms": False}, "consent"),
        (WINE, {"alcohol_marketing": False}, "alcohol"),
        (WINE, {"age_verified": False}, "alcohol"),
        (POINTS, {"opted_out": True}, "consent"),
    ],
    ids=["new-allergy", "opt-out", "sms-consent-withdrawn", "alcohol-consent-withdrawn", "age-unverified",
         "points-opt-out"],
)
def test_accept_after_a_profile_change_blocks_with_no_side_effect(
    world: World, draft: Any, change: dict[str, Any], rule: str
) -> None:
    guest = world.guest()
    offer = world.pending_offer(guest, draft)
    # Recorded while the re-check is not running (e.g. it raced the review): execute must catch it itself.
    world.update_profile(guest, recheck=False, **change)
    assert accept(world, offer.id) == "blocked"
    assert_blocked_without_effects(world, offer.id, rule)
    with Session(world.engine) as s:
        customer = s.get(Customer, guest)
        assert customer is not None and customer.points == 0
        event = s.get(InboxEvent, offer.event_id)
        assert event is not None and event.outcome == "blocked"


def test_accept_of_an_unchanged_guest_executes_once_and_names_the_manager(world: World) -> None:
    guest = world.guest()
    offer = world.pending_offer(guest)
    assert accept(world, offer.id) == "sent"
    row = world.offer(offer.id)
    assert row.status == "sent" and row.decided_by == "reviewer:1" and row.promo_code
    assert world.side_effects(offer.id) == {"promo_codes": 1, "points": 0, "messages": 1}
    with pytest.raises(ReviewConflict):
        accept(world, offer.id)


def test_a_timezone_in_quiet_hours_defers_the_message_past_them(world: World) -> None:
    guest = world.guest()
    offer = world.pending_offer(guest)
    world.update_profile(guest, recheck=False, timezone="Asia/Tokyo")  # 03:30 there
    assert accept(world, offer.id) == "sent"
    [message] = world.messages(guest)
    assert message.scheduled_for == datetime(2026, 11, 21, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo
    # Nothing reaches the guest during their night.
    assert deliver_due_messages(world.engine, provider=SandboxMessagingProvider(), now=NOW) == 0
    assert world.messages(guest)[0].status == "scheduled"


def test_a_new_escalation_at_execution_goes_back_to_review(database_url: str, engine: Engine, tmp_path: Path) -> None:
    # Only VIPs are reviewed for who they are; this offer is reviewed for its value.
    world = build_world(database_url, engine, tmp_path,
                        policy_yaml="escalation:\n  high_value_tiers: [vip]\n  offer_value_threshold_cents: 100\n")
    guest = world.guest()
    offer = world.pending_offer(guest)
    with session_scope(world.engine) as s:  # the POS moved the guest up a tier meanwhile
        s.execute(update(Customer).where(col(Customer.id) == guest).values(tier="vip"))
    assert accept(world, offer.id) == "pending_review"
    row = world.offer(offer.id)
    assert row.status == "pending_review" and world.side_effects(offer.id) == NOTHING
    assert any("high-value tier 'vip'" in v["reason"] for v in row.verdicts if v["verdict"] == "escalate")
    # A manager who has now seen the new reason accepts: it executes, once.
    assert accept(world, offer.id, OTHER_MANAGER) == "sent"
    assert world.offer(offer.id).decided_by == "reviewer:3"
    assert world.side_effects(offer.id) == {"promo_codes": 1, "points": 0, "messages": 1}


class CreateFailsPos:
    """The sandbox POS, unreachable for the first `down` promo-code calls."""

    def __init__(self, inner: SandboxPos, down: int) -> None:
        self.inner, self.down, self.name = inner, down, inner.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def create_promo_code(self, **kw: Any) -> Any:
        if self.down > 0:
            self.down -= 1
            raise ToolUnavailable("pos", attempts=3, last_error=ConnectionRefusedError("connection refused"))
        return self.inner.create_promo_code(**kw)


def test_the_worker_retry_path_rechecks_before_executing(database_url: str, engine: Engine, tmp_path: Path) -> None:
    pos = CreateFailsPos(SandboxPos(engine), down=1)
    world = build_world(database_url, engine, tmp_path, pos=pos)
    guest = world.guest()
    offer = world.pending_offer(guest)
    assert accept(world, offer.id) == "execution_queued"
    with Session(world.engine) as s:
        event = s.get(InboxEvent, offer.event_id)
        assert event is not None and event.status == "queued"
    assert world.offer(offer.id).status == "approved"
    world.update_profile(guest, opted_out=True)  # approved offers are left to execute's own re-check
    assert world.offer(offer.id).status == "approved"
    assert event is not None
    from db.ingest import RecordedSale

    recorded = RecordedSale(offer.transaction_id or 0, guest, offer.merchant_id, created=False)
    assert world.agent.run_event(event, recorded) == "blocked"
    assert_blocked_without_effects(world, offer.id, "consent")


# -- 2. roles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "edits",
    [{"bonus_points": 50}, {"discount_pct": 5.0}, {"sku": "SALAD"}, {"channel": "email"}, {"expires_in_days": 30},
     {"offer_type": "bonus_points", "bonus_points": 50,
      "sms_text": "Hi {first_name}, 50 bonus points. Reply STOP to opt out"}],
)
def test_a_marketer_cannot_change_terms(world: World, edits: dict[str, Any]) -> None:
    guest = world.guest()
    offer = world.pending_offer(guest)
    with pytest.raises(ReviewForbidden):
        world.agent.review(offer.id, {"action": "edit", "edits": edits, **MARKETER})
    with pytest.raises(ReviewForbidden):
        accept(world, offer.id, MARKETER)
    row = world.offer(offer.id)
    assert row.status == "pending_review" and row.discount_pct == 10.0 and world.side_effects(offer.id) == NOTHING


def test_a_marketers_copy_edit_waits_for_a_manager(world: World) -> None:
    guest = world.guest()
    offer = world.pending_offer(guest)
    new_copy = "Hi {first_name}, enjoy 10% off Mac & Cheese next time. Code {promo_code}. Reply STOP to opt out"
    outcome = world.agent.review(offer.id, {"action": "edit", "edits": {"sms_text": new_copy}, "note": "warmer",
                                            **MARKETER})
    assert outcome == "pending_review"
    row = world.offer(offer.id)
    assert row.status == "pending_review" and row.sms_text == new_copy
    assert row.reviewed_by_marketer == "reviewer:2" and row.decided_by is None
    assert world.side_effects(offer.id) == NOTHING
    assert world.agent.pending_interrupt(offer.event_id or "")  # a fresh interrupt for the manager
    assert accept(world, offer.id) == "sent"
    row = world.offer(offer.id)
    assert row.decided_by == "reviewer:1" and row.sms_text == new_copy
    [message] = world.messages(guest)
    assert message.body == new_copy


# -- 3. edits are applied and audited -----------------------------------------------------------------


def test_a_managers_edit_is_stored_on_the_offer_and_audited_with_values(world: World) -> None:
    guest = world.guest()
    offer = world.pending_offer(guest)
    new_copy = "Hi {first_name}, 5% off our Mac & Cheese this week. Code {promo_code}. Reply STOP to opt out"
    outcome = world.agent.review(offer.id, {"action": "edit", "edits": {"discount_pct": 5.0, "sms_text": new_copy},
                                            **MANAGER})
    assert outcome == "sent"
    row = world.offer(offer.id)
    assert (row.discount_pct, row.sms_text, row.decided_by) == (5.0, new_copy, "reviewer:1")
    [review_row] = [a for a in audit_nodes(world, offer.id) if a.node == "human_review"]
    assert review_row.actor == "reviewer:1"
    assert review_row.outputs["edits"] == {
        "discount_pct": {"before": 10.0, "after": 5.0},
        "sms_text": {"before": MAC.sms_text, "after": new_copy},
    }


def test_edits_with_another_action_are_refused(world: World) -> None:
    offer = world.pending_offer(world.guest())
    for action in ("accept", "reject"):
        with pytest.raises(ReviewError):
            world.agent.review(offer.id, {"action": action, "edits": {"discount_pct": 5.0}, **MANAGER})
    assert world.offer(offer.id).status == "pending_review"


# -- 4. bounds before anything is claimed -------------------------------------------------------------


@pytest.mark.parametrize(
    "edits",
    [{"bonus_points": 10**19}, {"discount_cents": 10**19}, {"discount_pct": 1e308}, {"expires_in_days": 10**9},
     {"email_subject": "x" * 70_000}, {"sms_text": "y" * 100_000}],
)
def test_absurd_edits_are_refused_and_leave_the_offer_reviewable(world: World, edits: dict[str, Any]) -> None:
    offer = world.pending_offer(world.guest())
    with pytest.raises(ReviewError):
        world.agent.review(offer.id, {"action": "edit", "edits": edits, **MANAGER})
    row = world.offer(offer.id)
    assert row.status == "pending_review" and row.review_locked_by is None
    assert accept(world, offer.id) == "sent"


def test_a_failure_mid_review_never_leaves_the_offer_reviewing(database_url: str, engine: Engine,
                                                                tmp_path: Path) -> None:
    class BrokenPos(CreateFailsPos):
        def create_promo_code(self, **kw: Any) -> Any:
            if self.down > 0:
                self.down -= 1
                raise RuntimeError("bug in the POS adapter")
            return self.inner.create_promo_code(**kw)

    world = build_world(database_url, engine, tmp_path, pos=BrokenPos(SandboxPos(engine), down=1))
    offer = world.pending_offer(world.guest())
    with pytest.raises(RuntimeError):
        accept(world, offer.id)
    assert world.offer(offer.id).status == "pending_review"  # released, not stuck
    # The accept is checkpointed but not executed: the next review hands it to the worker.
    assert accept(world, offer.id, OTHER_MANAGER) == "execution_queued"
    with Session(world.engine) as s:
        event = s.get(InboxEvent, offer.event_id)
    assert event is not None
    from db.ingest import RecordedSale

    recorded = RecordedSale(offer.transaction_id or 0, offer.customer_id, offer.merchant_id, created=False)
    assert world.agent.run_event(event, recorded) == "sent"
    assert world.side_effects(offer.id) == {"promo_codes": 1, "points": 0, "messages": 1}


# -- 7. the lease on `reviewing` ----------------------------------------------------------------------


def test_a_review_whose_process_died_is_reclaimed_after_its_lease(world: World) -> None:
    offer = world.pending_offer(world.guest())
    assert offers.claim_review(world.engine, offer.id, reviewer="reviewer:9:dead", lease_s=60)
    with pytest.raises(ReviewConflict):
        accept(world, offer.id)  # held by the (dead) reviewer
    assert offers.reclaim_expired_reviews(world.engine) == []
    assert offers.reclaim_expired_reviews(world.engine, now=utcnow() + timedelta(seconds=61)) == [offer.id]
    assert accept(world, offer.id) == "sent"


# -- profile changes re-check pending and scheduled offers ----------------------------------------------


def test_a_new_allergy_blocks_a_pending_offer_at_once(world: World) -> None:
    guest = world.guest()
    offer = world.pending_offer(guest)
    [result] = world.update_profile(guest, allergies=["dairy"])
    assert (result.offer_id, result.action) == (offer.id, "blocked")
    row = world.offer(offer.id)
    assert row.status == "blocked"
    assert [a.actor for a in audit_nodes(world, offer.id) if a.node == "profile_recheck"] == ["system"]
    with Session(world.engine) as s:
        event = s.get(InboxEvent, offer.event_id)
        assert event is not None and event.outcome == "blocked"
    with pytest.raises(ReviewConflict):
        accept(world, offer.id)
    assert world.side_effects(offer.id) == NOTHING
    assert world.update_profile(guest, allergies=["dairy"]) == []  # nothing left to re-check


def test_a_pending_offer_is_re_escalated_with_fresh_reasons(world: World) -> None:
    guest = world.guest()
    offer = world.pending_offer(guest)
    with session_scope(world.engine) as s:
        s.execute(update(Customer).where(col(Customer.id) == guest).values(tier="gold"))
    [result] = world.update_profile(guest, given_name="Annie")
    assert result.action == "re-escalated"
    row = world.offer(offer.id)
    assert row.status == "pending_review"
    assert any("'gold'" in v["reason"] for v in row.verdicts if v["verdict"] == "escalate")


def test_opt_out_cancels_scheduled_messages_and_the_offer(world: World) -> None:
    guest = world.guest(timezone="Asia/Tokyo")  # night there: the accepted offer's message waits for 09:00
    offer = world.pending_offer(guest)
    assert accept(world, offer.id) == "sent"
    with session_scope(world.engine) as s:  # a campaign message, not tied to an offer
        schedule_message(s, idempotency_key="campaign:1", offer_id=None, customer_id=guest, channel="email",
                         subject="News", body="Hi {first_name}, news. Reply STOP to opt out",
                         scheduled_for=NOW + timedelta(days=1))
    assert [m.status for m in world.messages(guest)] == ["scheduled", "scheduled"]
    results = world.update_profile(guest, opted_out=True)
    assert {r.action for r in results} == {"cancelled", "message cancelled"}
    assert [m.status for m in world.messages(guest)] == ["cancelled", "cancelled"]
    row = world.offer(offer.id)
    assert row.status == "cancelled" and any(v["rule"] == "consent" and v["verdict"] == "block"
                                             for v in row.verdicts)
    assert deliver_due_messages(world.engine, provider=SandboxMessagingProvider(),
                                now=NOW + timedelta(days=2)) == 0


def test_a_timezone_change_defers_a_scheduled_message(world: World) -> None:
    guest = world.guest()
    offer = world.pending_offer(guest)
    world.clock[0] = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # 05:00 in New York: deferred to 09:00 there
    assert accept(world, offer.id) == "sent"
    [message] = world.messages(guest)
    assert message.scheduled_for == datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
    # The guest moves to Honolulu: 14:00 UTC is 04:00 there, so the message waits for 09:00 HST.
    [result] = world.update_profile(guest, timezone="Pacific/Honolulu")
    assert result.action == "deferred"
    [message] = world.messages(guest)
    assert message.status == "scheduled" and message.scheduled_for == datetime(2026, 11, 20, 19, 0, tzinfo=UTC)
    assert world.offer(offer.id).status == "sent"


def test_the_worker_rechecks_after_recording_a_customer_updated(world: World, database_url: str,
                                                                 tmp_path: Path) -> None:
    from db.inbox import enqueue_event
    from loyalty_agent.worker import process_event
    from tests.integration.conftest import make_settings

    guest = world.guest()
    offer = world.pending_offer(guest)
    with Session(world.engine) as s:
        customer = s.get(Customer, guest)
        assert customer is not None
        pos_id = customer.pos_customer_id
    payload = {"event": "customer.updated", "event_id": "evt_profile_1", "created_at": NOW.isoformat(),
               "data": {"customer_id": pos_id, "allergies": ["dairy"]}}
    with session_scope(world.engine) as s:
        event_id = enqueue_event(s, provider="pos", provider_event_id="evt_profile_1", event_type="customer.updated",
                                 payload=payload, merchant_id="m_sandbox").event_id
    with Session(world.engine) as s:
        event = s.get(InboxEvent, event_id)
    assert event is not None
    settings = make_settings(database_url, tmp_path)
    assert process_event(world.engine, settings, event, profile_recheck=world.agent.recheck_customer) == (
        "profile_updated")
    assert world.offer(offer.id).status == "blocked"
    with pytest.raises(ReviewConflict):
        accept(world, offer.id)
    assert world.side_effects(offer.id) == NOTHING
