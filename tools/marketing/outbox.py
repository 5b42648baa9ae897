"""Marketing outbox: messages are scheduled in the database and delivered later by a sender.

Why an outbox: the decision (offer approved, message scheduled) commits with the offer in one
database transaction, and delivery happens afterwards, retried until the provider takes it.
The stored body keeps its `{first_name}` / `{promo_code}` placeholders; the guest's name and
address are read from `customer_contact` only here, at send time, and never written back. The filled
message is measured against the merchant policy (tools.marketing.reidentify): the name gives way,
never the opt-out text, and a message that cannot fit is not sent (`failed`).

Row life cycle (`outbound_message.status`):
    scheduled --claim--> sending --provider ok--> sent
                                 --transient---> scheduled (scheduled_for = now + backoff)
                                 --refused / out of attempts--> failed
                                 --consent withdrawn / no address--> suppressed
    scheduled --cancel_scheduled (profile change: opt-out, consent, a rule fails)--> cancelled
    scheduled --defer_scheduled (the guest's quiet hours moved)--> scheduled (later scheduled_for)
While a row is `sending`, `scheduled_for` holds the end of the sender's lease: a sender that
died mid-send leaves a row that is claimable again once the lease is over. Re-sending it is
safe because the provider dedupes on the message's idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, col, select

from db.engine import core_connection, session_scope
from db.tables import Customer, CustomerContact, Offer, OutboundMessage, PromoCode
from db.types import utcnow
from guardrails.policy import Policy, default_policy
from tools.audit import record_audit
from tools.errors import IdempotencyConflict, PermanentError, RetryableError, ToolUnavailable
from tools.marketing.providers import MessagingProvider
from tools.marketing.reidentify import PROMO_CODE_PLACEHOLDER, reidentify

CHANNELS = frozenset({"sms", "email"})
ACTION_SCHEDULE_MESSAGE = "marketing.schedule_message"

STATUS_SCHEDULED = "scheduled"
STATUS_SENDING = "sending"
STATUS_SENT = "sent"
STATUS_FAILED = "failed"
STATUS_SUPPRESSED = "suppressed"
STATUS_CANCELLED = "cancelled"
# Messages that reached the guest or still may, as the fatigue history names them; failed, suppressed and
# cancelled messages never reach anyone and do not count.
HISTORY_STATUS: dict[str, str] = {STATUS_SENT: "sent", STATUS_SENDING: "scheduled", STATUS_SCHEDULED: "scheduled"}



def schedule_message(
    session_or_engine: Session | Engine,
    *,
    idempotency_key: str,
    offer_id: str | None,
    customer_id: int,
    channel: str,
    subject: str | None,
    body: str,
    scheduled_for: datetime,
    correlation_id: str | None = None,
) -> OutboundMessage:
    """Put one message in the outbox, once per idempotency key.

    With a Session the row joins the caller's transaction (so "offer executed" and "message
    scheduled" commit together); the insert is an INSERT .. ON CONFLICT DO NOTHING, so a duplicate
    key never aborts that transaction. With an Engine it commits on its own. A second call with the same key
    returns the existing row unchanged; the same key for another customer/channel/offer raises
    IdempotencyConflict. When `correlation_id` is given, a `tool:schedule_message` audit event is
    written in the same transaction.
    """
    if channel not in CHANNELS:
        raise PermanentError(f"unknown channel {channel!r}", code="INVALID_VALUE")
    if scheduled_for.tzinfo is None:
        raise PermanentError("scheduled_for must be timezone-aware", code="INVALID_VALUE")
    if not body.strip():
        raise PermanentError("message body is empty", code="INVALID_VALUE")
    if isinstance(session_or_engine, Session):
        return _schedule_in(session_or_engine, idempotency_key, offer_id, customer_id, channel, subject, body,
                            scheduled_for, correlation_id)
    try:
        with session_scope(session_or_engine) as session:
            return _schedule_in(session, idempotency_key, offer_id, customer_id, channel, subject, body,
                                scheduled_for, correlation_id)
    except IntegrityError:
        # Lost a race at commit time (SQLite defers nothing, Postgres may): the winner's row is the answer.
        with Session(session_or_engine, expire_on_commit=False) as session:
            existing = _by_key(session, idempotency_key)
            if existing is None:
                raise
            _check_same_message(existing, offer_id, customer_id, channel)
            return existing


def _schedule_in(
    session: Session,
    key: str,
    offer_id: str | None,
    customer_id: int,
    channel: str,
    subject: str | None,
    body: str,
    scheduled_for: datetime,
    correlation_id: str | None,
) -> OutboundMessage:
    message = OutboundMessage(
        idempotency_key=key, offer_id=offer_id, customer_id=customer_id, channel=channel, subject=subject,
        body=body, status=STATUS_SCHEDULED, scheduled_for=scheduled_for,
    )
    # No read first: the insert itself finds a duplicate key, and only then is the stored row read.
    stored = _insert_unless_duplicate(session, message)
    if stored is None:
        existing = _by_key(session, key)
        if existing is None:  # pragma: no cover - a conflict means the row exists
            raise RuntimeError(f"outbound message {key!r} vanished after insert")
        _check_same_message(existing, offer_id, customer_id, channel)
        return existing
    if correlation_id is not None:
        record_audit(
            session,
            correlation_id=correlation_id,
            offer_id=offer_id,
            node="tool:schedule_message",
            inputs={"idempotency_key": key, "customer_id": customer_id, "channel": channel, "subject": subject,
                    "body": body, "scheduled_for": scheduled_for},
            outputs={"message_id": stored.id, "status": STATUS_SCHEDULED, "channel": channel,
                     "scheduled_for": scheduled_for.isoformat(), "idempotency_key": key},
        )
    return stored


# INSERT .. ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, built once per dialect that has it.
_INSERT_UNLESS_DUPLICATE: dict[str, Any] = {
    dialect: insert_of(OutboundMessage).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(
        col(OutboundMessage.id)
    )
    for dialect, insert_of in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


def _insert_unless_duplicate(session: Session, message: OutboundMessage) -> OutboundMessage | None:
    """INSERT ... ON CONFLICT (idempotency_key) DO NOTHING; the stored row (`message`, now persistent in
    `session`) when this call inserted it, None when the key was there already.

    ON CONFLICT instead of catching IntegrityError: a conflict raises nothing, so the caller's
    transaction stays usable without a SAVEPOINT (pysqlite's SAVEPOINT handling would commit it
    early). Concurrent inserts of one key wait for each other in the database and one wins.
    """
    stmt = _INSERT_UNLESS_DUPLICATE.get(session.get_bind().dialect.name)
    if stmt is None:  # other backends: a SAVEPOINT keeps a duplicate from aborting the caller's transaction
        try:
            with session.begin_nested():
                session.add(message)
        except IntegrityError:
            return None
        return message
    # A Core insert on the session's connection (the ORM's insert path costs more than the row); RETURNING,
    # not rowcount: psycopg reports -1 for INSERT .. ON CONFLICT through SQLAlchemy 2.1.
    inserted = core_connection(session).execute(stmt, message.model_dump(exclude={"id"})).first()
    if inserted is None:
        return None
    # The row as a read-back would give it (timestamps come back in UTC), joined to the session as stored
    # state: no second SELECT, and no INSERT at the next flush.
    message.id = inserted[0]
    message.scheduled_for = message.scheduled_for.astimezone(UTC)
    make_transient_to_detached(message)
    session.add(message)
    return message


def _by_key(session: Session, key: str) -> OutboundMessage | None:
    return session.exec(select(OutboundMessage).where(OutboundMessage.idempotency_key == key)).first()


def _check_same_message(existing: OutboundMessage, offer_id: str | None, customer_id: int, channel: str) -> None:
    if (existing.offer_id, existing.customer_id, existing.channel) != (offer_id, customer_id, channel):
        raise IdempotencyConflict(
            f"idempotency key {existing.idempotency_key!r} already schedules a different message"
        )


# -- cancelling and deferring (before a sender claims the row) ---------------------------------


def scheduled_messages(session: Session, *, customer_id: int) -> list[OutboundMessage]:
    """The guest's messages not yet claimed by a sender."""
    return list(
        session.exec(
            select(OutboundMessage).where(
                col(OutboundMessage.customer_id) == customer_id, col(OutboundMessage.status) == STATUS_SCHEDULED
            )
        ).all()
    )


def cancel_scheduled(session: Session, message_id: int, *, reason: str) -> bool:
    """scheduled -> cancelled (compare-and-set). False when a sender has claimed the row meanwhile: the
    sender re-checks consent itself before it sends."""
    result = session.execute(
        update(OutboundMessage)
        .where(col(OutboundMessage.id) == message_id, col(OutboundMessage.status) == STATUS_SCHEDULED)
        .values(status=STATUS_CANCELLED, last_error=reason[:500])
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def defer_scheduled(session: Session, message_id: int, *, was: datetime, until: datetime) -> bool:
    """scheduled stays scheduled, later (compare-and-set on the old time): the guest's quiet hours moved."""
    result = session.execute(
        update(OutboundMessage)
        .where(
            col(OutboundMessage.id) == message_id,
            col(OutboundMessage.status) == STATUS_SCHEDULED,
            col(OutboundMessage.scheduled_for) == was,
        )
        .values(scheduled_for=until)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# -- sending -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    message_id: int
    attempts: int  # value after the claim: the sender's fencing token for this lease


@dataclass(frozen=True)
class _Outcome:
    status: str
    provider_message_id: str | None = None
    error: str | None = None
    retry_at: datetime | None = None


def deliver_due_messages(
    engine: Engine,
    *,
    provider: MessagingProvider,
    now: datetime | None = None,
    limit: int = 50,
    lease_s: float = 120.0,
    max_attempts: int = 5,
    backoff_base_s: float = 30.0,
    policy: Policy | None = None,
) -> int:
    """Send the messages that are due; return how many were sent.

    Claims up to `limit` due rows (Postgres: FOR UPDATE SKIP LOCKED; every dialect: a
    compare-and-set on status + scheduled_for, so two senders never both own a row), then for
    each one re-checks consent, re-identifies, calls the provider with the row's idempotency key
    and records the outcome plus a `tool:send_message` audit event. `policy` (default: the built-in
    one) bounds the filled message: SMS length per encoding, email subject length.
    """
    if lease_s <= 0:
        raise ValueError("lease_s must be positive")
    now = now or utcnow()
    policy = policy or default_policy()
    sent = 0
    for claim in _claim_due(engine, now=now, limit=limit, lease_s=lease_s):
        outcome = _deliver_one(engine, provider, claim, now=now, max_attempts=max_attempts,
                               backoff_base_s=backoff_base_s, policy=policy)
        if outcome is not None and outcome.status == STATUS_SENT:
            sent += 1
    return sent


def _claim_due(engine: Engine, *, now: datetime, limit: int, lease_s: float) -> list[_Claim]:
    lease_until = now + timedelta(seconds=lease_s)
    due = and_(
        or_(col(OutboundMessage.status) == STATUS_SCHEDULED, col(OutboundMessage.status) == STATUS_SENDING),
        col(OutboundMessage.scheduled_for) <= now,
    )
    claims: list[_Claim] = []
    with session_scope(engine) as session:
        stmt = (
            select(OutboundMessage.id, OutboundMessage.status, OutboundMessage.scheduled_for,
                   OutboundMessage.attempts)
            .where(due)
            .order_by(col(OutboundMessage.scheduled_for), col(OutboundMessage.id))
            .limit(limit)
        )
        if engine.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        for message_id, status, scheduled_for, attempts in session.exec(stmt).all():
            assert message_id is not None
            result = session.execute(
                update(OutboundMessage)
                .where(
                    col(OutboundMessage.id) == message_id,
                    col(OutboundMessage.status) == status,
                    col(OutboundMessage.scheduled_for) == scheduled_for,
                    col(OutboundMessage.attempts) == attempts,
                )
                .values(status=STATUS_SENDING, scheduled_for=lease_until, attempts=attempts + 1)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                claims.append(_Claim(message_id=message_id, attempts=attempts + 1))
    return claims


def _deliver_one(
    engine: Engine,
    provider: MessagingProvider,
    claim: _Claim,
    *,
    now: datetime,
    max_attempts: int,
    backoff_base_s: float,
    policy: Policy,
) -> _Outcome | None:
    with Session(engine) as session:
        message = session.get(OutboundMessage, claim.message_id)
        if message is None:
            return None
        customer = session.get(Customer, message.customer_id)
        contact = session.get(CustomerContact, message.customer_id)
        promo_code = _promo_code_for(session, message.offer_id)
        correlation_id = _correlation_id(session, message)
        key, channel, offer_id = message.idempotency_key, message.channel, message.offer_id
        stored_subject, stored_body = message.subject, message.body

    outcome: _Outcome
    refusal = consent_refusal(customer, contact, channel)
    if refusal is not None:
        outcome = _Outcome(status=STATUS_SUPPRESSED, error=refusal)
    elif promo_code is None and PROMO_CODE_PLACEHOLDER in f"{stored_subject or ''}{stored_body}":
        outcome = _Outcome(status=STATUS_FAILED, error="message needs {promo_code} but the offer has none")
    else:
        assert contact is not None
        address = contact.phone if channel == "sms" else contact.email
        assert address is not None
        filled = _filled_message(channel, stored_subject, stored_body, given_name=contact.given_name,
                                 promo_code=promo_code, policy=policy)
        if isinstance(filled, str):
            outcome = _Outcome(status=STATUS_FAILED, error=filled)
        else:
            subject, body = filled
            outcome = _send(provider, key=key, channel=channel, to=address, subject=subject, body=body,
                            attempts=claim.attempts, now=now, max_attempts=max_attempts,
                            backoff_base_s=backoff_base_s)

    with session_scope(engine) as session:
        values: dict[str, object] = {"status": outcome.status, "last_error": outcome.error}
        if outcome.status == STATUS_SENT:
            values |= {"provider_message_id": outcome.provider_message_id, "sent_at": utcnow()}
        if outcome.retry_at is not None:
            values["scheduled_for"] = outcome.retry_at
        result = session.execute(
            update(OutboundMessage)
            .where(
                col(OutboundMessage.id) == claim.message_id,
                col(OutboundMessage.status) == STATUS_SENDING,
                col(OutboundMessage.attempts) == claim.attempts,  # our lease, not a later sender's
            )
            .values(**values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None  # lease lost to another sender; it owns the row (and the provider deduped)
        record_audit(
            session,
            correlation_id=correlation_id,
            offer_id=offer_id,
            node="tool:send_message",
            inputs={"idempotency_key": key, "message_id": claim.message_id, "attempt": claim.attempts},
            outputs={
                "message_id": claim.message_id,
                "status": outcome.status,
                "channel": channel,
                "attempt": claim.attempts,
                "provider": provider.name,
                "provider_message_id": outcome.provider_message_id,
                "reason": outcome.error,
                "retry_at": outcome.retry_at.isoformat() if outcome.retry_at else None,
                "idempotency_key": key,
            },
        )
    return outcome


def _send(
    provider: MessagingProvider,
    *,
    key: str,
    channel: str,
    to: str,
    subject: str | None,
    body: str,
    attempts: int,
    now: datetime,
    max_attempts: int,
    backoff_base_s: float,
) -> _Outcome:
    try:
        provider_message_id = provider.send(idempotency_key=key, channel=channel, to=to, subject=subject,
                                            body=body)
    except PermanentError as exc:
        return _Outcome(status=STATUS_FAILED, error=_short(exc))
    except (ToolUnavailable, RetryableError) as exc:
        if attempts >= max_attempts:
            return _Outcome(status=STATUS_FAILED, error=f"gave up after {attempts} attempts: {_short(exc)}")
        retry_at = now + timedelta(seconds=backoff_base_s * 2 ** (attempts - 1))
        return _Outcome(status=STATUS_SCHEDULED, error=_short(exc), retry_at=retry_at)
    return _Outcome(status=STATUS_SENT, provider_message_id=provider_message_id)


def consent_refusal(customer: Customer | None, contact: CustomerContact | None, channel: str) -> str | None:
    """Why this message may not go out now (consent is re-checked at send time), or None."""
    if customer is None:
        return "customer no longer exists"
    if customer.opted_out_at is not None:
        return "customer opted out"
    if channel == "sms" and not customer.consent_sms:
        return "no sms consent"
    if channel == "email" and not customer.consent_email:
        return "no email consent"
    address = (contact.phone if channel == "sms" else contact.email) if contact else None
    if not address or not address.strip():
        return f"no {'phone number' if channel == 'sms' else 'email address'} on file"
    return None


def _filled_message(
    channel: str, subject: str | None, body: str, *, given_name: str | None, promo_code: str | None, policy: Policy
) -> tuple[str | None, str] | str:
    """(subject, body) re-identified within the policy's limits, or why the message cannot be sent."""
    if channel == "sms":
        sms = policy.sms
        filled_body = reidentify(body, given_name=given_name, promo_code=promo_code, fits=sms.fits)
        if filled_body is None:
            return (f"sms over the policy's length even without the guest's name (limit {sms.limit_for(gsm=True)}"
                    f" GSM-7 / {sms.limit_for(gsm=False)} UCS-2 characters)")
        return None, filled_body
    max_subject = policy.email.max_subject_length
    filled_subject = None if subject is None else reidentify(
        subject, given_name=given_name, promo_code=promo_code, fits=lambda text: len(text) <= max_subject
    )
    if subject is not None and filled_subject is None:
        return f"email subject is over {max_subject} characters even without a name"
    return filled_subject, reidentify(body, given_name=given_name, promo_code=promo_code) or ""


def _promo_code_for(session: Session, offer_id: str | None) -> str | None:
    if offer_id is None:
        return None
    offer = session.get(Offer, offer_id)
    if offer is not None and offer.promo_code:
        return offer.promo_code
    return session.exec(
        select(PromoCode.code).where(PromoCode.offer_id == offer_id).order_by(col(PromoCode.id).desc())
    ).first()


def _correlation_id(session: Session, message: OutboundMessage) -> str:
    if message.offer_id is not None:
        offer = session.get(Offer, message.offer_id)
        if offer is not None and offer.event_id:
            return offer.event_id
        return f"offer:{message.offer_id}"
    return f"outbound_message:{message.id}"


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
