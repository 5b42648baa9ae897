"""A decision re-run after a crash between `draft_offer`'s commit and its checkpoint keeps the draft it
recorded: a model drafting differently the second time cannot change an offer that has moved on (its side
effects' idempotency keys belong to the first draft)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from sqlmodel import Session

from agent.graph import draft_offer
from agent.llm import OfflineDrafter
from db.tables import Offer
from sandbox.replay import sample_sales
from tests.integration.test_agent_graph import NOW, Sandbox, ingest, sandbox  # noqa: F401 - the fixture


class _OtherMind(OfflineDrafter):
    """Drafts like the offline drafter, then changes the discount: what a model re-asked may do."""

    def draft(self, inp: Any, *, context: Any = None) -> Any:
        result = super().draft(inp, context=context)
        if result.offer.make_offer and result.offer.offer_type != "bonus_points":
            other = result.offer.model_copy(update={"discount_pct": 5.0, "discount_cents": None,
                                                    "offer_type": "percent_off_item"})
            return result.model_copy(update={"offer": other})
        return result


def test_rerun_of_draft_offer_keeps_the_recorded_draft(sandbox: Sandbox) -> None:  # noqa: F811
    sales = [s for s in sample_sales(sandbox.engine, count=60, seed=23, now=NOW) if s["data"].get("customer_id")]
    agent = sandbox.agent
    for sale in sales:
        event, recorded = ingest(sandbox, sale)
        if agent.run_event(event, recorded) == "sent":
            break
    else:
        raise AssertionError("no sale was sent an offer")
    values = dict(agent.graph.get_state(agent.config(event.id)).values)
    with Session(sandbox.engine) as s:
        row = s.get(Offer, values["offer_id"])
        assert row is not None and row.status == "sent"
        sent_pct, sent_type = row.discount_pct, row.offer_type
    state = {key: values[key] for key in ("event_id", "transaction_id", "merchant_id", "customer_id",
                                          "location_id", "draft_input")}
    ctx = agent.ctx
    original = ctx.drafter
    ctx.drafter = _OtherMind()
    try:
        out = draft_offer(state, Runtime(context=ctx))  # type: ignore[arg-type]
    finally:
        ctx.drafter = original
    assert out["offer_id"] == values["offer_id"]
    assert out["draft"]["discount_pct"] == sent_pct and out["draft"]["offer_type"] == sent_type
    with Session(sandbox.engine) as s:
        again = s.get(Offer, values["offer_id"])
        assert again is not None and again.status == "sent" and again.discount_pct == sent_pct
