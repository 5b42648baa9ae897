"""The graph's audit rows: one per node, correlated to the decision's event, written through tools.audit."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from agent.context import AgentContext
from agent.state import OfferState
from db.engine import session_scope
from tools.audit import record_audit


def audit(
    ctx: AgentContext,
    state: OfferState,
    node: str,
    outputs: dict[str, Any],
    *,
    session: Session | None = None,
    **kw: Any,
) -> None:
    """Append `node`'s audit row; inside `session` when given (commits with the node's own writes)."""
    offer_id = kw.pop("offer_id", state.get("offer_id"))
    if session is not None:
        record_audit(session, correlation_id=state["event_id"], node=node, outputs=outputs, offer_id=offer_id, **kw)
        return
    with session_scope(ctx.engine) as own:
        record_audit(own, correlation_id=state["event_id"], node=node, outputs=outputs, offer_id=offer_id, **kw)
