"""A merchant's SMS policy from draft to delivered text, on real engines (SQLite; PostgreSQL when set).

A policy with `sms.max_length: 140` and its own opt-out text: the offline drafter's SMS passes the
guardrails, and the message the outbox hands the provider, with each guest's real first name filled
in (long, hyphenated, accented, non-Latin), is within 140 characters (or the policy's UCS-2 share of
a segment) and still carries that opt-out text and the promo code.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.draft_input import DraftFeatures, FavouriteItem, assemble_draft_input
from agent.offline_drafter import OfflineDrafter
from core.schemas import CatalogFact, CustomerFacts
from core.sms import sms_length
from db.engine import session_scope
from db.tables import Customer, CustomerContact, Merchant, Offer, OutboundMessage
from guardrails import GuardrailContext, evaluate
from guardrails.policy import policy_from_mapping
from sandbox.menu import MENU
from tools.idempotency import idempotency_key
from tools.marketing.outbox import ACTION_SCHEDULE_MESSAGE, deliver_due_messages, schedule_message
from tools.marketing.providers import SandboxMessagingProvider

NOW = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)  # noon in New York: no quiet-hours deferral
OPT_OUT = "Text STOP to end"
POLICY = policy_from_mapping({"sms": {"max_length": 140, "opt_out_text": OPT_OUT}})
PROMO = "HV-7K2Q-9M"
NAMES = ["Maximiliana", "Christopherson-Montgomery", "Zoë", "王芳", "Anne-Sophie", None]
CATALOG = {
    item.sku: CatalogFact(sku=item.sku, name=item.name, category=item.category, subcategory=item.subcategory,
                          price_cents=item.price_cents, unit_cost_cents=item.unit_cost_cents,
                          allergens=list(item.allergens), contains_alcohol=item.contains_alcohol)
    for item in MENU
}


def _drafted_sms() -> str:
    guest = CustomerFacts(pseudonym="g_0123456789abcdef", allergies=[], consent_sms=True)
    features = DraftFeatures(
        favourite_items=[FavouriteItem(sku="SALMON-ENTREE", name="Grilled Salmon", category="mains", count=6,
                                       typical_interval_days=21.0, next_expected_in_days=2.0)],
        visits_12m=8, days_since_last_visit=19,
    )
    inp = assemble_draft_input(facts=guest, features=features, catalog=CATALOG, policy=POLICY, now=NOW)
    offer = OfflineDrafter().draft(inp).offer
    assert offer.make_offer and offer.channel == "sms" and offer.sms_text, offer.rationale
    report = evaluate(GuardrailContext(offer=offer, customer=guest, catalog=CATALOG, history=[], policy=POLICY,
                                       now=NOW))
    assert report.verdict != "block", [r.reason for r in report.blocking]
    assert offer.sms_text.endswith(OPT_OUT)
    return offer.sms_text


def _seed(engine: Engine, bodies: list[str]) -> None:
    with session_scope(engine) as s:
        s.add(Merchant(id="m1", name="Harbor & Vine"))
        s.flush()
        for index in range(1, len(NAMES) + 1):
            s.add(Customer(id=index, merchant_id="m1", pos_customer_id=f"cust_{index}", pseudonym=f"g_{index}",
                           consent_sms=True))
        s.flush()
        for index, name in enumerate(NAMES, start=1):
            s.add(CustomerContact(customer_id=index, given_name=name, phone=f"+1415555{index:04d}"))
            s.add(Offer(id=f"offer_{index}", merchant_id="m1", customer_id=index, event_id=f"evt_{index}",
                        offer_type="percent_off_item", sku="SALMON-ENTREE", discount_pct=10, promo_code=PROMO,
                        status="approved"))
    for index, body in enumerate(bodies, start=1):
        schedule_message(engine, idempotency_key=idempotency_key(f"offer_{index}", ACTION_SCHEDULE_MESSAGE),
                         offer_id=f"offer_{index}", customer_id=index, channel="sms", subject=None, body=body,
                         scheduled_for=NOW - timedelta(minutes=1))


def test_sent_sms_fits_the_merchants_140_and_keeps_their_opt_out_text(engine: Engine) -> None:
    body = _drafted_sms()
    _seed(engine, [body] * len(NAMES))
    provider = SandboxMessagingProvider()
    assert deliver_due_messages(engine, provider=provider, now=NOW, policy=POLICY) == len(NAMES)
    sent = {delivery.to: delivery.body for delivery in provider.deliveries}
    assert len(sent) == len(NAMES)
    for text in sent.values():
        length, gsm = sms_length(text)
        assert length <= POLICY.sms.limit_for(gsm=gsm) <= 140, text
        assert text.endswith(OPT_OUT) and PROMO in text and "{" not in text
    by_phone = {f"+1415555{index:04d}": name for index, name in enumerate(NAMES, start=1)}
    greeting = {by_phone[to]: text for to, text in sent.items()}
    assert "Maximiliana" in greeting["Maximiliana"]  # fits its 12-character budget as written
    assert "Zoe" in greeting["Zoë"]  # folded to GSM-7 rather than halving the segment
    # A 25-letter name fits only where the copy left room for it; otherwise it gives way, never the copy.
    assert greeting["Christopherson-Montgomery"].startswith(("Christopherson-Montgomery", "Christopherson,",
                                                             "there", "Hi there", "We miss you, there"))
    assert "王芳" not in greeting["王芳"] or sms_length(greeting["王芳"])[0] <= POLICY.sms.limit_for(gsm=False)


def test_a_stored_sms_over_the_policy_is_not_sent(engine: Engine) -> None:
    """Copy approved under an older, longer limit: the sender refuses it rather than send two segments."""
    long_body = "Hi {first_name}, " + "our salmon is back on the menu this week " * 3 + f"{PROMO}. {OPT_OUT}"
    _seed(engine, [long_body])
    provider = SandboxMessagingProvider()
    assert deliver_due_messages(engine, provider=provider, now=NOW, policy=POLICY) == 0
    assert provider.deliveries == []
    with Session(engine) as s:
        message = s.exec(select(OutboundMessage).order_by(col(OutboundMessage.id))).first()
    assert message is not None and message.status == "failed"
    assert "even without the guest's name" in (message.last_error or "")
