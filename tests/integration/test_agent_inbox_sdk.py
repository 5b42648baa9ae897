"""Agent Inbox compatibility, driven by langgraph-sdk's own client against the running app.

Interrupted offer threads are listed, read and resumed with `command.resume = [HumanResponse]`
exactly as LangChain's Agent Inbox does (string-valued args after its editor, `events` streaming,
`updateState(values=None, as_node="__end__")` to mark resolved), through the same review path,
roles and re-check as `POST /offers/{id}/review`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from db.tables import AuditEvent, Offer, OutboundMessage, PromoCode
from tests.integration.review_world import ReviewWorld, review_world


def _strings(action_request: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """What Agent Inbox sends back after its editor: every non-string value JSON-encoded."""
    args = {**action_request["args"], **changes}
    return {"action": action_request["action"],
            "args": {k: v if isinstance(v, str) else json.dumps(v) for k, v in args.items()}}


async def _status_of(exc_info: pytest.ExceptionInfo[httpx.HTTPStatusError]) -> int:
    return exc_info.value.response.status_code


def _offer(engine: Engine, offer_id: str) -> Offer:
    with Session(engine) as s:
        offer = s.get(Offer, offer_id)
        assert offer is not None
        return offer


def _count(engine: Engine, table: Any, offer_id: str) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(table).where(col(table.offer_id) == offer_id)).one())


async def _journey(w: ReviewWorld) -> None:
    manager = get_client(url=w.url, api_key=w.keys["manager"])
    marketer = get_client(url=w.url, api_key=w.keys["marketer"])
    associate = get_client(url=w.url, api_key=w.keys["associate"])

    # -- list ---------------------------------------------------------------------------------
    threads = await manager.threads.search(status="interrupted", metadata={"graph_id": "offer_agent"},
                                           limit=100, offset=0)
    by_offer: dict[str, Any] = {dict(t["metadata"] or {})["offer_id"]: t for t in threads}
    assert set(by_offer) == set(w.pending)
    for t in threads:
        assert t["status"] == "interrupted"
        (pending,) = [i for group in t["interrupts"].values() for i in group]
        value = pending["value"]
        assert value["action_request"]["action"] == "review_offer"
        assert set(value["config"]) == {"allow_accept", "allow_edit", "allow_respond", "allow_ignore"}
        assert value["description"].startswith("Escalated")
        values = dict(t["values"] or {})
        assert "customer_id" not in values and "draft_input" not in values
        assert values["customer"].startswith("g_")
    page = await manager.threads.search(status="interrupted", limit=1, offset=1)
    assert len(page) == 1 and page[0]["thread_id"] == threads[1]["thread_id"]
    assert await manager.threads.search(metadata={"graph_id": "another_graph"}) == []
    assert not [t for t in await manager.threads.search(status="idle", limit=100) if t["status"] != "idle"]
    with pytest.raises(httpx.HTTPStatusError) as denied:
        await associate.threads.search(status="interrupted")
    assert await _status_of(denied) == 403
    async with httpx.AsyncClient(base_url=w.url) as raw:
        assert (await raw.post("/threads/search", json={})).status_code == 401
        bearer = await raw.post("/threads/search", json={"status": "interrupted"},
                                headers={"authorization": f"Bearer {w.keys['manager']}"})
        assert bearer.status_code == 200 and len(bearer.json()) == len(w.pending)

    first, second, third = (by_offer[o]["thread_id"] for o in w.pending[:3])
    first_offer, second_offer, third_offer = w.pending[:3]

    # -- read ---------------------------------------------------------------------------------
    thread = await manager.threads.get(first)
    assert thread["thread_id"] == first and thread["status"] == "interrupted"
    state = await manager.threads.get_state(first)
    assert state["next"] == ["human_review"] and state["checkpoint"]["thread_id"] == first
    (interrupt,) = state["interrupts"]
    action_request = interrupt["value"]["action_request"]
    assert action_request["args"]["offer_id"] == first_offer
    assert (await marketer.threads.get_state(first))["interrupts"][0]["value"]["config"]["allow_accept"] is False

    # -- a marketer edits copy (streamed, as Agent Inbox does): re-checked, back in the queue -----------
    old_sms = action_request["args"]["sms_text"]
    new_sms = "{first_name}, a little thank-you from us: code {promo_code}. Reply STOP to opt out"
    parts = [p async for p in marketer.runs.stream(
        first, "offer_agent", command={"resume": [{"type": "edit", "args": _strings(action_request,
                                                                                    sms_text=new_sms)}]},
        stream_mode="events")]
    assert parts[0].event == "metadata"
    nodes = [p.data["metadata"]["langgraph_node"] for p in parts if p.event == "events"]
    assert "human_review" in nodes and "check_guardrails" in nodes and "execute" not in nodes
    edited = _offer(w.engine, first_offer)
    assert edited.status == "pending_review" and edited.sms_text == new_sms
    with Session(w.engine) as s:
        review_rows = s.exec(select(AuditEvent).where(col(AuditEvent.offer_id) == first_offer,
                                                      col(AuditEvent.node) == "human_review")).all()
    assert review_rows[-1].actor == f"reviewer:{w.key_ids['marketer']}"
    assert review_rows[-1].outputs["edits"]["sms_text"] == {"before": old_sms, "after": new_sms}
    assert (await manager.threads.get(first))["status"] == "interrupted"

    # A marketer may not change terms or accept (same roles as the JSON review).
    state = await marketer.threads.get_state(first)
    action_request = state["interrupts"][0]["value"]["action_request"]
    term = next(k for k in ("discount_pct", "discount_cents", "bonus_points") if action_request["args"][k] is not None)
    for response in ({"type": "edit", "args": _strings(action_request, **{term: 1})},
                     {"type": "accept", "args": None}):
        with pytest.raises(httpx.HTTPStatusError) as denied:
            await marketer.runs.create(first, "offer_agent", command={"resume": [response]})
        assert await _status_of(denied) == 403
    with pytest.raises(httpx.HTTPStatusError) as refused:  # an accept that changes something
        await manager.runs.create(first, "offer_agent", command={"resume": [
            {"type": "accept", "args": _strings(action_request, **{term: 1})}]})
    assert await _status_of(refused) == 422
    with pytest.raises(httpx.HTTPStatusError) as unknown:
        await manager.runs.create(first, "some_other_graph", command={"resume": [{"type": "accept", "args": None}]})
    assert await _status_of(unknown) == 404

    # -- a manager accepts (args as strings, unchanged): executed once --------------------------------
    run = await manager.runs.create(first, "offer_agent", command={"resume": [
        {"type": "accept", "args": _strings(action_request)}]})
    assert run["status"] == "success" and run["thread_id"] == first
    accepted = _offer(w.engine, first_offer)
    assert accepted.status == "sent" and accepted.decided_by == f"reviewer:{w.key_ids['manager']}"
    assert _count(w.engine, OutboundMessage, first_offer) == 1
    assert (await manager.threads.get(first))["status"] == "idle"
    with pytest.raises(httpx.HTTPStatusError) as again:
        await manager.runs.create(first, "offer_agent", command={"resume": [{"type": "accept", "args": None}]})
    assert await _status_of(again) == 409
    assert _count(w.engine, OutboundMessage, first_offer) == 1

    # -- response = a note that rejects ----------------------------------------------------------------
    await manager.runs.create(second, "offer_agent", command={"resume": [
        {"type": "response", "args": "Not this week: the kitchen is short of this dish"}]})
    rejected = _offer(w.engine, second_offer)
    assert rejected.status == "rejected"
    assert _count(w.engine, OutboundMessage, second_offer) == 0 and _count(w.engine, PromoCode, second_offer) == 0

    # -- ignore leaves it pending; "mark as resolved" closes it unsent ------------------------------------
    await manager.runs.create(third, "offer_agent", command={"resume": [{"type": "ignore", "args": None}]})
    assert _offer(w.engine, third_offer).status == "pending_review"
    assert (await manager.threads.get(third))["status"] == "interrupted"
    await manager.threads.update_state(third, None, as_node="__end__")
    assert _offer(w.engine, third_offer).status == "rejected"
    assert _count(w.engine, OutboundMessage, third_offer) == 0


def test_langgraph_sdk_lists_reads_and_resumes_offer_threads(database_url: str, engine: Engine,
                                                               tmp_path: Path) -> None:
    with review_world(database_url, engine, tmp_path, sales=14, min_pending=3) as world:
        asyncio.run(_journey(world))
