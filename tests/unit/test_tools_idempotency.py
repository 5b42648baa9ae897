"""Idempotency keys, retry policy, promo codes, audit digests and send-time re-identification."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
from sqlmodel import Session, SQLModel, create_engine, select

from db.tables import AuditEvent
from tools.audit import find_contact_pii_keys, inputs_digest, record_audit
from tools.errors import PermanentError, RetryableError, ToolUnavailable
from tools.idempotency import error_for_status, idempotency_key, is_retryable, retrying
from tools.pos.base import promo_code_for, validate_discount

NO_SLEEP = {"sleep": lambda _s: None, "base_delay_s": 0.001}


def test_idempotency_key_is_deterministic_short_and_distinct() -> None:
    key = idempotency_key("offer_1", "pos.create_promo_code")
    assert key == idempotency_key("offer_1", "pos.create_promo_code")
    assert key.startswith("idk_") and len(key) == 44 and len(key) <= 45  # Square's tightest limit
    assert key != idempotency_key("offer_1", "pos.attach_promo_to_customer")
    assert key != idempotency_key("offer_2", "pos.create_promo_code")
    # the separator keeps ("a", "bc") and ("ab", "c") apart
    assert idempotency_key("a", "bc") != idempotency_key("ab", "c")
    with pytest.raises(ValueError):
        idempotency_key("", "x")


def test_retrying_retries_transient_errors_then_succeeds() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    @retrying("t", attempts=4, base_delay_s=0.1, max_delay_s=1.0, sleep=sleeps.append)
    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RetryableError("503", status_code=503)
        return "ok"

    assert flaky() == "ok"
    assert len(calls) == 3
    assert len(sleeps) == 2 and all(0 <= s <= 1.0 for s in sleeps)  # jittered, capped


def test_retrying_never_retries_permanent_errors() -> None:
    calls: list[int] = []

    @retrying("t", attempts=5, **NO_SLEEP)  # type: ignore[arg-type]
    def invalid() -> None:
        calls.append(1)
        raise PermanentError("bad request", status_code=400)

    with pytest.raises(PermanentError):
        invalid()
    assert len(calls) == 1


def test_retrying_raises_tool_unavailable_after_exhaustion() -> None:
    calls: list[int] = []

    @retrying("pos.test", attempts=3, **NO_SLEEP)  # type: ignore[arg-type]
    def down() -> None:
        calls.append(1)
        raise httpx.ConnectError("connection refused")

    with pytest.raises(ToolUnavailable) as info:
        down()
    assert len(calls) == 3
    assert info.value.attempts == 3 and info.value.tool == "pos.test"
    assert isinstance(info.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize(
    ("status", "retryable"), [(400, False), (401, False), (404, False), (409, False), (422, False),
                              (408, True), (429, True), (500, True), (502, True), (503, True)]
)
def test_status_classification(status: int, retryable: bool) -> None:
    error = error_for_status(status, "x")
    assert is_retryable(error) is retryable
    assert isinstance(error, RetryableError if retryable else PermanentError)


def test_timeouts_and_connection_errors_are_retryable() -> None:
    assert is_retryable(httpx.ReadTimeout("slow"))
    assert is_retryable(TimeoutError())
    assert is_retryable(ConnectionResetError())
    assert not is_retryable(ValueError("bug"))


def test_promo_code_is_human_friendly_and_deterministic() -> None:
    key = idempotency_key("offer_9", "pos.create_promo_code")
    code = promo_code_for(key)
    assert re.fullmatch(r"HV-[2-9A-HJ-NP-TV-Z]{4}-[2-9A-HJ-NP-TV-Z]{2}", code)
    assert code == promo_code_for(key)
    assert code != promo_code_for(key, salt=1)
    codes = {promo_code_for(idempotency_key(f"offer_{i}", "x")) for i in range(5000)}
    assert len(codes) == 5000


def test_discount_validation_refuses_malformed_terms() -> None:
    aware = datetime(2026, 1, 1, tzinfo=UTC)
    validate_discount(discount_pct=15, discount_cents=None, expires_at=aware)
    for pct, cents, expires in [(None, None, aware), (10, 100, aware), (0, None, aware), (150, None, aware),
                                (None, -5, aware), (10, None, datetime(2026, 1, 1))]:  # noqa: DTZ001
        with pytest.raises(PermanentError):
            validate_discount(discount_pct=pct, discount_cents=cents, expires_at=expires)


def test_inputs_digest_is_canonical() -> None:
    assert inputs_digest({"b": 1, "a": [1, 2]}) == inputs_digest({"a": [1, 2], "b": 1})
    assert inputs_digest({"a": 1}) != inputs_digest({"a": 2})
    assert inputs_digest({"a": 1}).startswith("sha256:")


def test_record_audit_stores_digest_and_refuses_contact_pii() -> None:
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        record_audit(session, correlation_id="evt_1", node="tool:x", inputs={"secret": "v"},
                     outputs={"code": "HV-AAAA-BB", "at": datetime(2026, 1, 1, tzinfo=UTC).isoformat()})
        session.commit()
        event = session.exec(select(AuditEvent)).one()
        assert event.inputs_digest == inputs_digest({"secret": "v"})
        assert event.outputs["code"] == "HV-AAAA-BB" and event.actor == "agent"
        assert "v" not in str(event.outputs)
        with pytest.raises(ValueError, match="contact PII"):
            record_audit(session, correlation_id="evt_1", node="tool:x", outputs={"nested": [{"Email": "a@b"}]})
    assert find_contact_pii_keys({"a": {"phone_number": 1}}) == ["a.phone_number"]
