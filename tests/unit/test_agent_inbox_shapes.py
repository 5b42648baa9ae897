"""Agent Inbox replies -> review decisions: string args typed back, accept never changes, roles in config."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import HTTPException

from api.agent_inbox import HumanResponse, decision_from, interrupts_of, review_args, thread_status
from db.tables import Offer


def _offer(**overrides: Any) -> Offer:
    values: dict[str, Any] = {
        "id": "off_1", "merchant_id": "m", "customer_id": 1, "event_id": "ev_1", "status": "pending_review",
        "offer_type": "bonus_points", "bonus_points": 100, "channel": "sms", "expires_in_days": 14,
        "sms_text": "{first_name}, 100 bonus points are yours. Reply STOP to opt out",
        "verdicts": [{"rule": "escalation", "verdict": "escalate", "reason": "high-value tier 'gold'"}],
    }
    values.update(overrides)
    return Offer(**values)


def _as_agent_inbox_sends(offer: Offer, **changes: Any) -> dict[str, Any]:
    """The ActionRequest as Agent Inbox returns it after its editor: every non-string value JSON-encoded."""
    args = {**review_args(offer), **changes}
    return {"action": "review_offer", "args": {k: v if isinstance(v, str) else json.dumps(v) for k, v in args.items()}}


def _refused(offer: Offer, response: HumanResponse) -> str:
    with pytest.raises(HTTPException) as caught:
        decision_from(offer, response)
    assert caught.value.status_code == 422
    return str(caught.value.detail)


def test_accept_takes_string_args_back_as_the_same_typed_values() -> None:
    offer = _offer()
    assert decision_from(offer, HumanResponse(type="accept", args=None)).action == "accept"
    decision = decision_from(offer, HumanResponse(type="accept", args=_as_agent_inbox_sends(offer)))
    assert decision.action == "accept" and decision.edits == {}
    assert "send an edit" in _refused(offer, HumanResponse(type="accept",
                                                           args=_as_agent_inbox_sends(offer, bonus_points=50)))


def test_edit_sends_only_changed_fields_with_their_types() -> None:
    offer = _offer()
    new_copy = "{first_name}, 50 bonus points are yours. Reply STOP to opt out"
    decision = decision_from(offer, HumanResponse(type="edit", args=_as_agent_inbox_sends(
        offer, bonus_points=50, sms_text=new_copy)))
    assert decision.action == "edit"
    assert decision.edits == {"bonus_points": 50, "sms_text": new_copy}
    assert isinstance(decision.edits["bonus_points"], int)
    # Untyped JSON from a client that did not stringify works the same.
    untyped = {"action": "review_offer", "args": {"bonus_points": 60}}
    raw = decision_from(offer, HumanResponse(type="edit", args=untyped))
    assert raw.edits == {"bonus_points": 60}
    # "null" for a field that was null stays null (no change); an emptied text field becomes null.
    assert _as_agent_inbox_sends(offer)["args"]["email_subject"] == "null"
    cleared = decision_from(offer, HumanResponse(type="edit", args=_as_agent_inbox_sends(offer, sms_text="")))
    assert cleared.edits == {"sms_text": None}


def test_bad_replies_are_refused_with_a_reason() -> None:
    offer = _offer()
    assert "not a number" in _refused(offer, HumanResponse(type="edit", args=_as_agent_inbox_sends(
        offer, discount_pct="ten")))
    assert "bonus_points" in _refused(offer, HumanResponse(type="edit", args={"action": "review_offer", "args": {
        "bonus_points": "10.5"}}))
    assert "not reviewable" in _refused(offer, HumanResponse(type="edit", args={"action": "review_offer", "args": {
        "customer_id": "2"}}))
    assert "does not match" in _refused(offer, HumanResponse(type="edit", args={"action": "review_offer", "args": {
        "offer_id": "off_other", "bonus_points": "5"}}))
    assert "changes nothing" in _refused(offer, HumanResponse(type="edit", args=_as_agent_inbox_sends(offer)))
    assert "ActionRequest" in _refused(offer, HumanResponse(type="edit", args="just text"))
    assert "note" in _refused(offer, HumanResponse(type="response", args="   "))


def test_response_rejects_with_the_note_and_ignore_does_nothing() -> None:
    offer = _offer()
    rejected = decision_from(offer, HumanResponse(type="response", args="Too generous for a first visit"))
    assert rejected.action == "reject" and rejected.note == "Too generous for a first visit"
    assert decision_from(offer, HumanResponse(type="ignore", args=None)).action is None


def test_interrupt_follows_human_interrupt_and_config_follows_the_role() -> None:
    offer = _offer()
    raw = SimpleNamespace(value={"description": "Escalated: high-value tier 'gold'"}, id="int-1")
    snapshot = SimpleNamespace(interrupts=(raw,))
    (manager,) = interrupts_of(offer, snapshot, "manager")
    assert manager["id"] == "int-1"
    value = manager["value"]
    assert set(value) == {"action_request", "config", "description"}
    assert value["action_request"]["action"] == "review_offer"
    assert value["action_request"]["args"]["bonus_points"] == 100
    assert value["config"] == {"allow_accept": True, "allow_edit": True, "allow_respond": True, "allow_ignore": True}
    assert value["description"] == "Escalated: high-value tier 'gold'"
    (marketer,) = interrupts_of(offer, snapshot, "marketer")
    assert marketer["value"]["config"]["allow_accept"] is False
    assert interrupts_of(_offer(status="sent"), snapshot, "manager") == []


@pytest.mark.parametrize(("offer_status", "expected"), [
    ("pending_review", "interrupted"), ("reviewing", "busy"), ("approved", "busy"), ("drafted", "busy"),
    ("sent", "idle"), ("blocked", "idle"), ("rejected", "idle"), ("cancelled", "idle"),
])
def test_thread_status_follows_the_offer(offer_status: str, expected: str) -> None:
    assert thread_status(offer_status) == expected
