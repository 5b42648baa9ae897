"""Audit every POS call of one decision without touching the adapters themselves.

The execute node wraps its adapter once per decision: `AuditedPos(pos, engine, correlation_id=event_id,
offer_id=offer.id)`. Each call — success, refusal or unavailability — leaves an AuditEvent with
node "tool:<method>", a digest of the arguments and the key fields of the result (codes,
references, balances; never contact details).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.engine import Engine

from db.engine import session_scope
from tools.audit import record_audit
from tools.errors import PermanentError, ToolError, ToolUnavailable
from tools.pos.base import AttachResult, PointsResult, PosAdapter, PosCustomer, PosOrder, PromoCodeResult

R = TypeVar("R")


class AuditedPos:
    """A PosAdapter that records an audit event around each call of the wrapped adapter."""

    def __init__(
        self,
        inner: PosAdapter,
        engine: Engine,
        *,
        correlation_id: str,
        offer_id: str | None = None,
        actor: str = "agent",
    ) -> None:
        self._inner = inner
        self._engine = engine
        self._correlation_id = correlation_id
        self._offer_id = offer_id
        self._actor = actor
        self.name = inner.name

    def get_order(self, pos_transaction_id: str) -> PosOrder | None:
        return self._audited(
            "get_order",
            {"pos_transaction_id": pos_transaction_id},
            lambda: self._inner.get_order(pos_transaction_id),
            lambda order: {"found": order is not None, "lines": len(order.lines) if order else 0},
        )

    def get_customer(self, pos_customer_id: str) -> PosCustomer | None:
        return self._audited(
            "get_customer",
            {"pos_customer_id": pos_customer_id},
            lambda: self._inner.get_customer(pos_customer_id),
            lambda customer: {"found": customer is not None},
        )

    def create_promo_code(
        self,
        *,
        idempotency_key: str,
        merchant_id: str,
        offer_id: str | None,
        customer_id: int | None,
        sku: str | None,
        category: str | None,
        discount_pct: float | None,
        discount_cents: int | None,
        expires_at: datetime | None,
    ) -> PromoCodeResult:
        arguments: dict[str, Any] = {
            "idempotency_key": idempotency_key,
            "merchant_id": merchant_id,
            "offer_id": offer_id,
            "customer_id": customer_id,
            "sku": sku,
            "category": category,
            "discount_pct": discount_pct,
            "discount_cents": discount_cents,
            "expires_at": expires_at,
        }
        return self._audited(
            "create_promo_code",
            arguments,
            lambda: self._inner.create_promo_code(**arguments),
            lambda r: {"code": r.code, "pos_reference": r.pos_reference, "replayed": r.replayed,
                       "idempotency_key": idempotency_key},
        )

    def attach_promo_to_customer(self, *, idempotency_key: str, code: str, pos_customer_id: str) -> AttachResult:
        return self._audited(
            "attach_promo_to_customer",
            {"idempotency_key": idempotency_key, "code": code, "pos_customer_id": pos_customer_id},
            lambda: self._inner.attach_promo_to_customer(
                idempotency_key=idempotency_key, code=code, pos_customer_id=pos_customer_id
            ),
            lambda r: {"code": r.code, "pos_reference": r.pos_reference, "replayed": r.replayed,
                       "idempotency_key": idempotency_key},
        )

    def accrue_points(
        self,
        *,
        idempotency_key: str,
        pos_customer_id: str,
        points: int,
        reason: str,
        transaction_id: str | None = None,
        offer_id: str | None = None,
    ) -> PointsResult:
        arguments: dict[str, Any] = {
            "idempotency_key": idempotency_key,
            "pos_customer_id": pos_customer_id,
            "points": points,
            "reason": reason,
            "transaction_id": transaction_id,
            "offer_id": offer_id,
        }
        return self._audited(
            "accrue_points",
            arguments,
            lambda: self._inner.accrue_points(**arguments),
            lambda r: _points_outputs(r, idempotency_key, points),
        )

    def redeem_points(
        self,
        *,
        idempotency_key: str,
        pos_customer_id: str,
        points: int,
        reason: str,
        offer_id: str | None = None,
    ) -> PointsResult:
        arguments: dict[str, Any] = {
            "idempotency_key": idempotency_key,
            "pos_customer_id": pos_customer_id,
            "points": points,
            "reason": reason,
            "offer_id": offer_id,
        }
        return self._audited(
            "redeem_points",
            arguments,
            lambda: self._inner.redeem_points(**arguments),
            lambda r: _points_outputs(r, idempotency_key, -points),
        )

    def _audited(
        self,
        method: str,
        inputs: Mapping[str, Any],
        call: Callable[[], R],
        outputs_of: Callable[[R], Mapping[str, Any]],
    ) -> R:
        try:
            result = call()
        except ToolError as exc:
            self._record(method, inputs, error_outputs(exc))
            raise
        self._record(method, inputs, {"status": "ok", "pos": self.name, **outputs_of(result)})
        return result

    def _record(self, method: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> None:
        with session_scope(self._engine) as session:
            record_audit(
                session,
                correlation_id=self._correlation_id,
                offer_id=self._offer_id,
                node=f"tool:{method}",
                actor=self._actor,
                inputs=dict(inputs),
                outputs=outputs,
            )


def error_outputs(exc: ToolError) -> dict[str, Any]:
    """Audit outputs of a failed tool call: enough to triage, truncated, no request payloads."""
    if isinstance(exc, ToolUnavailable):
        status = "unavailable"
    elif isinstance(exc, PermanentError):
        status = "refused"
    else:
        status = "error"
    outputs: dict[str, Any] = {"status": status, "error_type": type(exc).__name__, "error": str(exc)[:300]}
    for attribute in ("status_code", "code", "attempts"):
        value = getattr(exc, attribute, None)
        if value is not None:
            outputs[attribute] = value
    return outputs


def _points_outputs(result: PointsResult, idempotency_key: str, delta: int) -> dict[str, Any]:
    return {
        "delta": delta,
        "balance": result.balance,
        "pos_reference": result.pos_reference,
        "replayed": result.replayed,
        "idempotency_key": idempotency_key,
    }
