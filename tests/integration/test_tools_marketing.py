"""Marketing outbox + providers on real engines (SQLite; PostgreSQL when TEST_DATABASE_URL is set) and
a local fake messaging provider on loopback (idempotent by key, injectable failures)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from db.engine import session_scope
from db.tables import AuditEvent, Customer, CustomerContact, Merchant, Offer, OutboundMessage
from tools.errors import IdempotencyConflict, PermanentError, ToolUnavailable
from tools.idempotency import idempotency_key
from tools.marketing.outbox import ACTION_SCHEDULE_MESSAGE, deliver_due_messages, schedule_message
from tools.marketing.providers import HttpMessagingProvider, MessagingProvider, SandboxMessagingProvider

NOW = datetime(2026, 1, 15, 18, 0, tzinfo=UTC)
BODY = "Hi {first_name}, your grilled salmon is 15% off with {promo_code} until Sunday. Reply STOP to opt out."
PII = ("Maria", "Gonzalez", "maria@example.com", "+14155550199")


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    """`engine` is the shared migrated-database fixture of tests/conftest.py (SQLite, then PostgreSQL)."""
    with session_scope(engine) as s:
        s.add(Merchant(id="m1", name="Harbour View"))
        s.flush()  # no ORM relationships: flush parents before children
        s.add(Customer(id=1, merchant_id="m1", pos_customer_id="cust_456", pseudonym="guest-a1",
                       consent_sms=True, consent_email=True))
        s.add(Customer(id=2, merchant_id="m1", pos_customer_id="cust_789", pseudonym="guest-b2",
                       consent_sms=True))
        s.flush()
        s.add(CustomerContact(customer_id=1, given_name="Maria", family_name="Gonzalez",
                              email="maria@example.com", phone="+14155550199"))
        s.add(CustomerContact(customer_id=2, given_name=None, phone="+14155550100"))
        s.add(Offer(id="offer_1", merchant_id="m1", customer_id=1, event_id="evt_1", offer_type="percent_off_item",
                    sku="SALMON-ENTREE", discount_pct=15, promo_code="HV-7K2Q-9M", status="executing"))
    return engine


def _schedule(target: Session | Engine, decision: str, *, customer_id: int = 1, channel: str = "sms",
              offer_id: str | None = "offer_1", body: str = BODY, when: datetime = NOW) -> OutboundMessage:
    return schedule_message(target, idempotency_key=idempotency_key(decision, ACTION_SCHEDULE_MESSAGE),
                            offer_id=offer_id, customer_id=customer_id, channel=channel,
                            subject=None if channel == "sms" else "A treat for {first_name}", body=body,
                            scheduled_for=when, correlation_id="evt_1")


def _messages(engine: Engine) -> list[OutboundMessage]:
    with Session(engine) as s:
        return list(s.exec(select(OutboundMessage).order_by(col(OutboundMessage.id))).all())


class CountingProvider(SandboxMessagingProvider):
    """Sandbox provider that also counts calls per key, to prove a row is never handed over twice."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, int] = {}
        self._count_lock = threading.Lock()

    def send(self, *, idempotency_key: str, channel: str, to: str, subject: str | None, body: str) -> str:
        with self._count_lock:
            self.calls[idempotency_key] = self.calls.get(idempotency_key, 0) + 1
        return super().send(idempotency_key=idempotency_key, channel=channel, to=to, subject=subject, body=body)


# -- outbox ------------------------------------------------------------------------------------


def test_schedule_is_idempotent_on_repeat_and_under_concurrency(seeded: Engine) -> None:
    first = _schedule(seeded, "offer_1")
    assert _schedule(seeded, "offer_1").id == first.id
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(lambda _i: _schedule(seeded, "offer_x").id, range(16)))
    assert len(ids) == 1 and len(_messages(seeded)) == 2
    with pytest.raises(IdempotencyConflict):
        _schedule(seeded, "offer_1", customer_id=2)
    with pytest.raises(PermanentError):
        _schedule(seeded, "offer_9", channel="fax")


def test_schedule_joins_the_callers_transaction_and_a_duplicate_does_not_poison_it(seeded: Engine) -> None:
    _schedule(seeded, "offer_1")
    with session_scope(seeded) as session:
        session.execute(update(Offer).where(col(Offer.id) == "offer_1").values(status="sent"))
        again = _schedule(session, "offer_1")  # duplicate inside the caller's transaction
        fresh = _schedule(session, "offer_2")
        assert again.id is not None and fresh.id is not None
    with Session(seeded) as s:
        assert s.get(Offer, "offer_1").status == "sent"  # type: ignore[union-attr]
    assert len(_messages(seeded)) == 2
    with pytest.raises(RuntimeError), session_scope(seeded) as session:  # caller rolls back: nothing scheduled
        _schedule(session, "offer_3")
        raise RuntimeError("execute node failed after scheduling")
    assert len(_messages(seeded)) == 2


def test_reidentification_happens_only_at_send_time(seeded: Engine) -> None:
    _schedule(seeded, "offer_1")
    _schedule(seeded, "offer_e", channel="email", body="Dear {first_name}, code {promo_code}.")
    _schedule(seeded, "offer_later", when=NOW + timedelta(hours=2))
    stored = _messages(seeded)
    assert all("{first_name}" in m.body and "Maria" not in m.body for m in stored)
    provider = SandboxMessagingProvider()
    assert deliver_due_messages(seeded, provider=provider, now=NOW) == 2
    sms, email = provider.deliveries
    assert sms.to == "+14155550199" and sms.body.startswith("Hi Maria, your grilled salmon is 15% off with HV-7K2Q-9M")
    assert email.to == "maria@example.com" and email.subject == "A treat for Maria" and "code HV-7K2Q-9M" in email.body
    after = _messages(seeded)
    assert [m.status for m in after] == ["sent", "sent", "scheduled"]
    assert all("{first_name}" in m.body and "Maria" not in m.body for m in after)  # stored body untouched
    assert after[0].provider_message_id == sms.provider_message_id and after[0].sent_at is not None
    with Session(seeded) as s:
        audits = s.exec(select(AuditEvent).where(AuditEvent.node == "tool:send_message")).all()
        scheduled = s.exec(select(AuditEvent).where(AuditEvent.node == "tool:schedule_message")).all()
    assert len(audits) == 2 and len(scheduled) == 3
    assert {a.correlation_id for a in audits} == {"evt_1"} and audits[0].outputs["status"] == "sent"
    dumped = json.dumps([a.outputs for a in [*audits, *scheduled]])
    assert not any(p in dumped for p in PII)


def test_consent_withdrawn_after_scheduling_suppresses_the_message(seeded: Engine) -> None:
    _schedule(seeded, "offer_1")
    _schedule(seeded, "offer_2", customer_id=2, offer_id=None, body="Hi {first_name}! Reply STOP to opt out.")
    with session_scope(seeded) as s:
        s.execute(update(Customer).where(col(Customer.id) == 1).values(consent_sms=False))
        s.execute(update(Customer).where(col(Customer.id) == 2).values(opted_out_at=NOW - timedelta(minutes=5)))
    provider = CountingProvider()
    assert deliver_due_messages(seeded, provider=provider, now=NOW) == 0
    assert provider.calls == {}
    rows = _messages(seeded)
    assert [(m.status, m.last_error) for m in rows] == [("suppressed", "no sms consent"),
                                                         ("suppressed", "customer opted out")]
    assert deliver_due_messages(seeded, provider=provider, now=NOW + timedelta(days=1)) == 0  # final state


def test_missing_first_name_falls_back_and_missing_promo_code_fails(seeded: Engine) -> None:
    _schedule(seeded, "offer_2", customer_id=2, offer_id=None, body="Hi {first_name}! Reply STOP to opt out.")
    _schedule(seeded, "offer_3", customer_id=2, offer_id=None, body="Use {promo_code}. Reply STOP to opt out.")
    provider = SandboxMessagingProvider()
    assert deliver_due_messages(seeded, provider=provider, now=NOW) == 1
    assert provider.deliveries[0].body == "Hi there! Reply STOP to opt out."
    assert [m.status for m in _messages(seeded)] == ["sent", "failed"]


def test_two_senders_never_send_one_row_twice(seeded: Engine) -> None:
    for i in range(30):
        _schedule(seeded, f"offer_bulk_{i}")
    provider = CountingProvider()
    barrier = threading.Barrier(4)

    def sender(_i: int) -> int:
        barrier.wait()
        total = 0
        while True:
            sent = deliver_due_messages(seeded, provider=provider, now=NOW, limit=5)
            if sent == 0:
                return total
            total += sent

    with ThreadPoolExecutor(max_workers=4) as pool:
        totals = list(pool.map(sender, range(4)))
    assert sum(totals) == 30
    assert len(provider.calls) == 30 and set(provider.calls.values()) == {1}
    assert {m.status for m in _messages(seeded)} == {"sent"}
    assert {m.attempts for m in _messages(seeded)} == {1}


def test_a_sender_that_died_mid_send_is_taken_over_after_its_lease(seeded: Engine) -> None:
    _schedule(seeded, "offer_1")
    with session_scope(seeded) as s:  # as left by a sender that crashed after claiming
        s.execute(update(OutboundMessage).values(status="sending", attempts=1,
                                                 scheduled_for=NOW + timedelta(seconds=120)))
    provider = CountingProvider()
    assert deliver_due_messages(seeded, provider=provider, now=NOW) == 0  # lease still held
    assert deliver_due_messages(seeded, provider=provider, now=NOW + timedelta(seconds=121)) == 1
    assert _messages(seeded)[0].attempts == 2 and _messages(seeded)[0].status == "sent"


# -- HTTP provider against a fake ------------------------------------------------------------------


class FakeProvider:
    """JSON messaging API: POST /messages with Idempotency-Key; same key -> same id, one delivery."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.delivered: dict[str, dict[str, Any]] = {}
        self.fail_before = 0
        self.fail_after = 0

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests += 1
            if headers.get("authorization") != "Bearer key_1":
                return 401, {"error": {"code": "unauthorized"}}
            if self.fail_before > 0:
                self.fail_before -= 1
                return 503, {"error": {"code": "unavailable"}}
            key = headers.get("idempotency-key")
            payload = json.loads(body)
            if not key:
                return 400, {"error": {"code": "idempotency_key_required"}}
            to = str(payload.get("to") or "")
            bad_phone = payload.get("channel") == "sms" and not to.startswith("+")
            if payload.get("channel") not in {"sms", "email"} or bad_phone:
                return 422, {"error": {"code": "invalid_recipient"}}
            if key not in self.delivered:
                self.delivered[key] = {"id": f"msg_{len(self.delivered) + 1}", **payload}
            response = {"id": self.delivered[key]["id"], "status": "queued"}
            if self.fail_after > 0:
                self.fail_after -= 1
                return 503, {"error": {"code": "unavailable"}}
            return 202, response


@pytest.fixture
def fake_provider() -> Iterator[tuple[FakeProvider, str]]:
    app = FakeProvider()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            status, payload = app.handle({k.lower(): v for k, v in self.headers.items()}, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield app, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _http(url: str, **overrides: Any) -> HttpMessagingProvider:
    options: dict[str, Any] = {"base_url": url, "api_key": "key_1", "timeout_s": 2.0, "retry_attempts": 4,
                               "retry_base_delay_s": 0.01, "retry_max_delay_s": 0.05}
    options.update(overrides)
    return HttpMessagingProvider(**options)


def test_http_provider_retries_503_and_lost_responses_without_duplicates(
    fake_provider: tuple[FakeProvider, str],
) -> None:
    app, url = fake_provider
    provider: MessagingProvider = _http(url)
    app.fail_before, app.fail_after = 1, 1
    message_id = provider.send(idempotency_key="idk_1", channel="sms", to="+1415", subject=None, body="hi")
    assert app.requests == 3 and len(app.delivered) == 1 and message_id == "msg_1"
    assert provider.send(idempotency_key="idk_1", channel="sms", to="+1415", subject=None, body="hi") == "msg_1"
    assert len(app.delivered) == 1


def test_http_provider_does_not_retry_validation_errors(fake_provider: tuple[FakeProvider, str]) -> None:
    app, url = fake_provider
    with pytest.raises(PermanentError) as info:
        _http(url).send(idempotency_key="idk_2", channel="pigeon", to="+1415", subject=None, body="hi")
    assert info.value.status_code == 422 and "invalid_recipient" in str(info.value) and app.requests == 1
    with pytest.raises(ToolUnavailable):
        _http("http://127.0.0.1:9", retry_attempts=2).send(idempotency_key="k", channel="sms", to="x",
                                                           subject=None, body="hi")


def test_outbox_over_http_backs_off_while_provider_is_down_then_sends_once(
    seeded: Engine, fake_provider: tuple[FakeProvider, str],
) -> None:
    app, url = fake_provider
    _schedule(seeded, "offer_1")
    app.fail_before = 3  # the whole first delivery attempt (3 tries) fails
    provider = _http(url, retry_attempts=3)
    assert deliver_due_messages(seeded, provider=provider, now=NOW, backoff_base_s=60) == 0
    row = _messages(seeded)[0]
    assert (row.status, row.attempts) == ("scheduled", 1) and "unavailable" in (row.last_error or "")
    assert row.scheduled_for == NOW + timedelta(seconds=60)
    assert deliver_due_messages(seeded, provider=provider, now=NOW + timedelta(seconds=30)) == 0  # backing off
    app.fail_after = 1  # next attempt: provider accepts but the answer is lost, the retry gets the same id
    assert deliver_due_messages(seeded, provider=provider, now=NOW + timedelta(seconds=61)) == 1
    row = _messages(seeded)[0]
    assert (row.status, row.attempts, row.provider_message_id) == ("sent", 2, "msg_1")
    assert len(app.delivered) == 1
    delivered = next(iter(app.delivered.values()))
    assert delivered["to"] == "+14155550199" and delivered["body"].startswith("Hi Maria,")
    with Session(seeded) as s:
        outcomes = [a.outputs["status"] for a in s.exec(
            select(AuditEvent).where(AuditEvent.node == "tool:send_message").order_by(col(AuditEvent.id))).all()]
    assert outcomes == ["scheduled", "sent"]


def test_outbox_marks_refused_messages_failed_and_gives_up_after_max_attempts(
    seeded: Engine, fake_provider: tuple[FakeProvider, str],
) -> None:
    app, url = fake_provider
    _schedule(seeded, "offer_1")
    with session_scope(seeded) as s:  # a malformed number reaches the provider, which refuses it (422)
        s.execute(update(CustomerContact).where(col(CustomerContact.customer_id) == 1).values(phone="415-CALL"))
    assert deliver_due_messages(seeded, provider=_http(url), now=NOW) == 0
    row = _messages(seeded)[0]
    assert row.status == "failed" and "422" in (row.last_error or "") and app.requests == 1

    _schedule(seeded, "offer_2", customer_id=2, offer_id=None, body="Hi! Reply STOP to opt out.")
    app.fail_before = 100
    down = _http(url, retry_attempts=1)
    for minute in range(3):
        deliver_due_messages(seeded, provider=down, now=NOW + timedelta(hours=minute), max_attempts=3,
                             backoff_base_s=1)
    last = _messages(seeded)[1]
    assert (last.status, last.attempts) == ("failed", 3) and "gave up after 3 attempts" in (last.last_error or "")
