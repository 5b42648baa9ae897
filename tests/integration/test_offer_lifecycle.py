"""The offer lifecycle (db/offers.py) on SQLite and PostgreSQL: compare-and-set transitions, the review
lease, the draft <-> row mapping, and the one set of statuses that counts towards fatigue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from agent.facts import offer_history
from core.schemas import OfferDraft
from db import offers
from db.engine import session_scope
from db.tables import Customer, Offer, OutboundMessage
from db.types import utcnow
from tests.integration.conftest import add_minimal_merchant

DRAFT = OfferDraft(
    make_offer=True, offer_type="percent_off_item", sku="SALMON", discount_pct=15.0, expires_in_days=10,
    channel="sms", sms_text="Hi {first_name}, 15% off salmon. Code {promo_code}. Reply STOP to opt out",
    rationale="favourite", confidence=0.8, strategy="favourite",
)


def _customer(engine: Engine) -> int:
    add_minimal_merchant(engine)
    with session_scope(engine) as s:
        customer = Customer(merchant_id="m_sandbox", pos_customer_id="c1", pseudonym="g_test1")
        s.add(customer)
        s.flush()
        assert customer.id is not None
        return customer.id


def _offer(engine: Engine, customer_id: int, offer_id: str, status: str = offers.DRAFTED) -> None:
    with session_scope(engine) as s:
        assert offers.save_draft(s, offer_id=offer_id, merchant_id="m_sandbox", customer_id=customer_id,
                                 event_id=f"ev_{offer_id}", transaction_id=None, draft=DRAFT, model="m",
                                 prompt_version="p", fallback_reason=None)
    if status != offers.DRAFTED:
        with session_scope(engine) as s:  # test set-up only: put the row straight into `status`
            s.execute(update(Offer).where(col(Offer.id) == offer_id).values(status=status))


def test_fatigue_counts_exactly_the_offers_that_may_still_reach_the_guest(engine: Engine) -> None:
    assert offers.FATIGUE_STATUSES == {"sent", "approved", "pending_review", "reviewing"}
    assert "executing" not in offers.OFFER_STATUSES  # nothing ever set it
    customer_id = _customer(engine)
    for status in offers.OFFER_STATUSES:
        _offer(engine, customer_id, f"off_{status}", status)
    # Messages of no offer (campaigns): the ones that reached the guest or may still do so count.
    with session_scope(engine) as s:
        for n, status in enumerate(("scheduled", "sending", "sent", "failed", "suppressed", "cancelled")):
            s.add(OutboundMessage(idempotency_key=f"loose:{n}", customer_id=customer_id, channel="sms",
                                  body="Hi. Reply STOP to opt out", status=status, scheduled_for=utcnow()))
    with Session(engine) as s:
        history = offer_history(s, customer_id=customer_id, now=utcnow())
        by_trigger = {trigger: sorted(e.status for e in history if e.trigger == trigger)
                      for trigger in ("transaction", "message")}
        # An offer under review may still go out: it counts, as `pending_review`; an approved one as
        # `scheduled`. Drafted, blocked, rejected and cancelled offers never reach the guest.
        assert by_trigger == {"transaction": ["pending_review", "pending_review", "scheduled", "sent"],
                              "message": ["scheduled", "scheduled", "sent"]}
        assert len(offer_history(s, customer_id=customer_id, now=utcnow(), exclude_offer_id="off_sent")) == 6


def test_draft_and_row_map_both_ways(engine: Engine) -> None:
    customer_id = _customer(engine)
    _offer(engine, customer_id, "off_1")
    with Session(engine) as s:
        row = s.get(Offer, "off_1")
        assert row is not None
        back = offers.draft_from_row(row)
    assert back.model_dump(exclude={"claims"}) == DRAFT.model_dump(exclude={"claims"})
    assert offers.draft_columns(back) == offers.draft_columns(DRAFT)


def test_transitions_are_compare_and_set(engine: Engine) -> None:
    customer_id = _customer(engine)
    _offer(engine, customer_id, "off_1")
    with session_scope(engine) as s:
        assert not offers.mark_sent(s, "off_1", promo_code="X", scheduled_for=utcnow(), expires_at=utcnow(),
                                    decided_by="agent", verdict="pass", verdicts=[])  # drafted: not executable
        assert offers.record_verdicts(s, "off_1", to=offers.PENDING_REVIEW, verdict="escalate", verdicts=[],
                                      offer_value_cents=100, send_at=None)
        assert not offers.record_verdicts(s, "off_1", to=offers.APPROVED, verdict="pass", verdicts=[],
                                          offer_value_cents=100, send_at=None)  # moved on
    with pytest.raises(ValueError):
        with session_scope(engine) as s:
            offers.record_verdicts(s, "off_1", to=offers.SENT, verdict="pass", verdicts=[], offer_value_cents=0,
                                   send_at=None)
    assert offers.claim_review(engine, "off_1", reviewer="reviewer:1", lease_s=60)
    assert not offers.claim_review(engine, "off_1", reviewer="reviewer:2", lease_s=60)  # held
    with session_scope(engine) as s:
        assert offers.reject(s, "off_1", reviewer="reviewer:1")
        assert not offers.reject(s, "off_1", reviewer="reviewer:1")
    with Session(engine) as s:
        row = s.get(Offer, "off_1")
        assert row is not None
        assert (row.status, row.decided_by, row.review_locked_by, row.reviewing_until) == (
            "rejected", "reviewer:1", None, None)
    assert not offers.release_review(engine, "off_1", claim="reviewer:1")


def test_an_expired_review_lease_is_reclaimed(engine: Engine) -> None:
    customer_id = _customer(engine)
    _offer(engine, customer_id, "off_1", offers.PENDING_REVIEW)
    _offer(engine, customer_id, "off_2", offers.PENDING_REVIEW)
    assert offers.claim_review(engine, "off_1", reviewer="reviewer:crashed", lease_s=60)
    assert offers.claim_review(engine, "off_2", reviewer="reviewer:slow", lease_s=600)
    assert offers.reclaim_expired_reviews(engine) == []  # both leases still run
    later = utcnow() + timedelta(seconds=120)
    assert offers.reclaim_expired_reviews(engine, now=later) == ["off_1"]
    with Session(engine) as s:
        one, two = s.get(Offer, "off_1"), s.get(Offer, "off_2")
        assert one is not None and two is not None
        assert (one.status, one.review_locked_by) == ("pending_review", None)
        assert (two.status, two.review_locked_by) == ("reviewing", "reviewer:slow")
    # A new claim also takes a row whose lease is over, without waiting for the sweep.
    with session_scope(engine) as s:
        s.execute(update(Offer).where(col(Offer.id) == "off_2")
                  .values(reviewing_until=utcnow() - timedelta(seconds=1)))
    assert offers.claim_review(engine, "off_2", reviewer="reviewer:next", lease_s=60)
