"""Re-checking a decision against the guest as they are now.

- `evaluate_now`: every guardrail rule on an offer, with facts read now (profile, consents, allergies,
  age, timezone and quiet hours, offer history counted now without this offer itself). The graph's
  `check_guardrails` and `execute` and the profile re-check below all call it.
- `unreviewed_escalations`: the escalations of a fresh report that the reviewer did not see.
- `recheck_customer`: after a profile change (allergies, consents, opt-out, age, timezone), that guest's
  offers waiting for review and their messages not yet handed to a sender:
  * pending_review: a failing rule blocks the offer; otherwise the fresh verdicts replace the old
    ones (re-escalated with the reasons as they are now). It still waits for a person.
  * sent with a message still scheduled: a failing rule cancels the message and the offer. Fatigue is
    not re-judged here: it was counted when the offer executed and a profile change does not move it.
    New escalations do not stop an offer a person or the rules already approved; they are audited.
    A later quiet-hours window (new timezone) defers the message.
  * any other scheduled message of the guest is cancelled when consent for its channel is gone.
  Approved offers not yet executed are left to `execute`, which re-checks right before any side effect.
  A promo code already attached to an offer cancelled here stays in the POS (the adapters have no
  revoke); the guest never receives it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from sqlmodel import Session

from agent.context import AgentContext
from agent.retrieval import guardrail_context
from agent.state import OfferState, decision_features
from core.schemas import GuardrailReport, OfferDraft
from db import inbox, offers
from db.engine import session_scope
from db.tables import Customer, CustomerContact, Offer, OutboundMessage
from guardrails.context import GuardrailContext
from guardrails.engine import evaluate
from profiles.features import ProfileFeatures
from tools.audit import record_audit
from tools.marketing import outbox

# Rules judged once, when the offer executed, on inputs a profile change does not alter.
CHARGED_AT_EXECUTION = frozenset({"fatigue"})
ESCALATION_RULE = "escalation"
RECHECK_NODE = "profile_recheck"
SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class Evaluation:
    report: GuardrailReport
    context: GuardrailContext

    @property
    def verdicts(self) -> list[dict[str, Any]]:
        return [r.model_dump(mode="json") for r in self.report.results]

    @property
    def offer_value_cents(self) -> int:
        return round(self.context.offer_value_cents)


def evaluate_now(
    ctx: AgentContext,
    *,
    offer: OfferDraft,
    merchant_id: str,
    customer_id: int,
    location_id: str | None,
    offer_id: str | None,
    features: ProfileFeatures | None,
    session: Session | None = None,
) -> Evaluation:
    """All rules on `offer` against facts read now (through `session` when given: the caller's
    transaction). Value figures (CLV, 12-month spend) come from the decision's own profile `features`,
    the numbers the drafter and the reviewer saw."""
    gctx = guardrail_context(
        ctx,
        offer=offer,
        merchant_id=merchant_id,
        customer_id=customer_id,
        location_id=location_id,
        offer_id=offer_id,
        features=features,
        session=session,
    )
    return Evaluation(report=evaluate(gctx), context=gctx)


def evaluate_decision(ctx: AgentContext, state: OfferState, *, session: Session | None = None) -> Evaluation:
    """`evaluate_now` on a decision's draft (or a reviewer's edit), for its guest, sale location and features."""
    return evaluate_now(
        ctx,
        offer=OfferDraft.model_validate(state["draft"]),
        merchant_id=state["merchant_id"],
        customer_id=state["customer_id"],
        location_id=state.get("location_id"),
        offer_id=state.get("offer_id"),
        features=decision_features(state),
        session=session,
    )


def escalation_keys(results: Iterable[dict[str, Any]]) -> set[str]:
    """What an escalation is about: each trigger of the escalation rule, else the escalating rule."""
    keys: set[str] = set()
    for r in results:
        if r.get("verdict") != "escalate":
            continue
        triggers = (r.get("evidence") or {}).get("triggers")
        if r.get("rule") == ESCALATION_RULE and isinstance(triggers, list) and triggers:
            keys |= {f"{ESCALATION_RULE}: {t}" for t in triggers}
        else:
            keys.add(str(r.get("rule")))
    return keys


def unreviewed_escalations(seen: dict[str, Any] | None, fresh: GuardrailReport) -> list[str]:
    """Escalations in `fresh` that are not in the report a reviewer decided on (`seen`; None: nobody did)."""
    fresh_keys = escalation_keys(r.model_dump(mode="json") for r in fresh.results)
    seen_keys = escalation_keys((seen or {}).get("results") or []) if seen is not None else set()
    return sorted(fresh_keys - seen_keys)


@dataclass(frozen=True)
class RecheckResult:
    offer_id: str | None
    action: str  # blocked | re-escalated | cancelled | deferred | message cancelled
    detail: str


DecisionValues = Callable[[str], dict[str, Any]]
"""Event id -> the decision's graph state values (features, location_id)."""


def recheck_customer(ctx: AgentContext, *, customer_id: int, decision_values: DecisionValues) -> list[RecheckResult]:
    """Re-check this guest's pending and scheduled offers after a profile change (see module docstring)."""
    with Session(ctx.engine) as session:
        pending = offers.customer_offers(session, customer_id=customer_id, statuses=(offers.PENDING_REVIEW,))
        sent = offers.customer_offers(session, customer_id=customer_id, statuses=(offers.SENT,))
        scheduled = outbox.scheduled_messages(session, customer_id=customer_id)
    results = [r for row in pending if (r := _recheck_pending(ctx, row, decision_values)) is not None]
    for row in sent:
        messages = [m for m in scheduled if m.offer_id == row.id]
        if messages:
            results += _recheck_scheduled(ctx, row, messages, decision_values)
    return results + _cancel_unconsented(ctx, customer_id)


def _evaluate_row(ctx: AgentContext, row: Offer, decision_values: DecisionValues) -> Evaluation:
    values = decision_values(row.event_id) if row.event_id else {}
    return evaluate_now(
        ctx,
        offer=offers.draft_from_row(row),
        merchant_id=row.merchant_id,
        customer_id=row.customer_id,
        location_id=values.get("location_id"),
        offer_id=row.id,
        features=decision_features(values),
    )


def _brief(verdicts: Iterable[dict[str, Any]]) -> list[tuple[Any, Any, Any]]:
    return [(v.get("rule"), v.get("verdict"), v.get("reason")) for v in verdicts]


def _audit(session: Session, row: Offer, outputs: dict[str, Any], verdicts: list[dict[str, Any]] | None) -> None:
    record_audit(session, correlation_id=row.event_id or f"offer:{row.id}", offer_id=row.id, node=RECHECK_NODE,
                 actor=SYSTEM_ACTOR, outputs=outputs, verdicts=verdicts)


def _recheck_pending(ctx: AgentContext, row: Offer, decision_values: DecisionValues) -> RecheckResult | None:
    ev = _evaluate_row(ctx, row, decision_values)
    if _brief(ev.verdicts) == _brief(row.verdicts):
        return None
    blocking = [r.rule for r in ev.report.blocking]
    with session_scope(ctx.engine) as session:
        if blocking:
            changed = offers.block_pending(session, row.id, verdicts=ev.verdicts)
            if changed and row.event_id:
                inbox.record_outcome(session, event_id=row.event_id, outcome=offers.BLOCKED)
        else:
            changed = offers.refresh_pending_verdicts(session, row.id, verdict=ev.report.verdict,
                                                      verdicts=ev.verdicts)
        if not changed:
            return None  # a reviewer claimed it meanwhile: `execute` re-checks before anything happens
        action = "blocked" if blocking else "re-escalated"
        _audit(session, row, {"status_was": offers.PENDING_REVIEW, "action": action, "verdict": ev.report.verdict,
                              "blocking": blocking}, ev.verdicts)
    return RecheckResult(row.id, action, ", ".join(blocking) or ev.report.verdict)


def _recheck_scheduled(
    ctx: AgentContext, row: Offer, messages: list[OutboundMessage], decision_values: DecisionValues
) -> list[RecheckResult]:
    ev = _evaluate_row(ctx, row, decision_values)
    failing = [r.rule for r in ev.report.blocking if r.rule not in CHARGED_AT_EXECUTION]
    results: list[RecheckResult] = []
    with session_scope(ctx.engine) as session:
        if failing:
            reason = f"profile change: {', '.join(failing)} now fails"
            cancelled = [m.id for m in messages if m.id is not None and outbox.cancel_scheduled(session, m.id,
                                                                                               reason=reason)]
            offer_cancelled = len(cancelled) == len(messages) and offers.cancel_sent(session, row.id,
                                                                                     verdicts=ev.verdicts)
            if offer_cancelled and row.event_id:
                inbox.record_outcome(session, event_id=row.event_id, outcome=offers.CANCELLED)
            _audit(session, row, {"status_was": offers.SENT, "action": "cancelled", "failing": failing,
                                  "cancelled_messages": cancelled, "offer_cancelled": offer_cancelled},
                   ev.verdicts)
            return [RecheckResult(row.id, "cancelled", reason)]
        for message in messages:
            assert message.id is not None
            # Quiet hours at the planned send time, in the guest's zone as it is now.
            later = replace(ev.context, now=message.scheduled_for).send_at
            if later > message.scheduled_for and outbox.defer_scheduled(session, message.id,
                                                                        was=message.scheduled_for, until=later):
                _audit(session, row, {"action": "deferred", "message_id": message.id,
                                      "scheduled_for_was": message.scheduled_for.isoformat(),
                                      "scheduled_for": later.isoformat()}, None)
                results.append(RecheckResult(row.id, "deferred", later.isoformat()))
        new = unreviewed_escalations({"results": row.verdicts}, ev.report)
        if new:
            _audit(session, row, {"action": "noted", "new_escalations": new}, ev.verdicts)
    return results


def _cancel_unconsented(ctx: AgentContext, customer_id: int) -> list[RecheckResult]:
    """Opt-out or a withdrawn channel consent cancels every scheduled message on that channel."""
    results: list[RecheckResult] = []
    with session_scope(ctx.engine) as session:
        customer = session.get(Customer, customer_id)
        contact = session.get(CustomerContact, customer_id)
        for message in outbox.scheduled_messages(session, customer_id=customer_id):
            refusal = outbox.consent_refusal(customer, contact, message.channel)
            if refusal is None or message.id is None:
                continue
            if not outbox.cancel_scheduled(session, message.id, reason=f"profile change: {refusal}"):
                continue
            results.append(RecheckResult(message.offer_id, "message cancelled", refusal))
            row = session.get(Offer, message.offer_id) if message.offer_id else None
            if row is None:
                continue
            # The offer's only way to reach the guest is gone: it no longer reads `sent`.
            offer_cancelled = not any(
                m.offer_id == row.id for m in outbox.scheduled_messages(session, customer_id=customer_id)
            ) and offers.cancel_sent(session, row.id, verdicts=row.verdicts)
            _audit(session, row, {"action": "message cancelled", "message_id": message.id, "reason": refusal,
                                  "offer_cancelled": offer_cancelled}, None)
    return results
