"""The subset of the LangGraph server API that LangChain's Agent Inbox calls, over offer threads.

`POST /threads/search`, `GET /threads/{id}`, `GET|POST /threads/{id}/state`, `POST
/threads/{id}/runs[/stream]` with `command.resume = [HumanResponse]`, and `GET /info`. Keys come as
`x-api-key` (langgraph-sdk) or `Authorization: Bearer`; marketers and managers only. Every decision
goes through the review path of `POST /offers/{id}/review` (api.reviews). Shapes: api.agent_inbox.

`POST /threads/{id}/state` only marks a thread resolved (`values` null, `as_node` "__end__", what
Agent Inbox's "Mark as resolved" sends): the offer is closed without sending, i.e. rejected with a
note saying so. The graph's state is not writable through this API.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from agent.runner import OfferAgent
from api import agent_inbox
from api.agent_inbox import HumanResponse
from api.deps import AgentDep, EngineDep, MarketerOrManager, SessionDep, SettingsDep
from api.reviews import submit_review
from db.tables import ApiKey, Customer, Offer
from db.types import utcnow

router = APIRouter(tags=["agent inbox"])

ThreadId = Annotated[str, Path(max_length=64)]
RESOLVED_NOTE = "marked resolved in Agent Inbox; nothing sent"


def _offer_thread(session: Session, thread_id: str) -> tuple[Offer, str]:
    row = session.exec(
        select(Offer, Customer.pseudonym)
        .join(Customer, col(Customer.id) == col(Offer.customer_id))
        .where(col(Offer.event_id) == thread_id)
    ).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no offer thread {thread_id!r}")
    return row[0], row[1]


class ThreadSearchIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    ids: list[Annotated[str, Field(max_length=64)]] | None = Field(default=None, max_length=1000)
    status: agent_inbox.ThreadStatus | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=1_000_000)
    sort_by: Literal["thread_id", "created_at", "updated_at"] | None = None
    sort_order: Literal["asc", "desc"] | None = None


_METADATA_COLUMNS = {"offer_id": Offer.id, "trigger": Offer.trigger, "strategy": Offer.strategy,
                     "customer": Customer.pseudonym}


@router.post("/threads/search")
def search_threads(body: ThreadSearchIn, key: MarketerOrManager, session: SessionDep, agent: AgentDep) -> list[dict]:
    """Offer threads, newest first by default; `status` and `metadata` filter (metadata: exact match)."""
    if body.values:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "filtering on thread values is not supported")
    query = select(Offer, Customer.pseudonym).join(Customer, col(Customer.id) == col(Offer.customer_id)).where(
        col(Offer.event_id).is_not(None)
    )
    if body.status:
        query = query.where(col(Offer.status).in_(agent_inbox.OFFER_STATUSES_BY_THREAD_STATUS[body.status]))
    if body.ids is not None:
        query = query.where(col(Offer.event_id).in_(body.ids))
    for name, wanted in (body.metadata or {}).items():
        if name == "graph_id" and wanted == agent_inbox.GRAPH_ID:
            continue
        if name == "assistant_id" and wanted == agent_inbox.ASSISTANT_ID:
            continue
        column = _METADATA_COLUMNS.get(name)
        if column is None or not isinstance(wanted, str):
            return []  # no offer thread carries that metadata
        query = query.where(col(column) == wanted)
    sort = {"thread_id": Offer.event_id, "updated_at": Offer.updated_at}.get(body.sort_by or "", Offer.created_at)
    order = col(sort).asc() if body.sort_order == "asc" else col(sort).desc()
    rows = session.exec(query.order_by(order, col(Offer.id)).offset(body.offset).limit(body.limit)).all()
    return [_thread(agent, offer, pseudonym, key.role) for offer, pseudonym in rows]


def _snapshot(agent: Any, offer: Offer) -> Any:
    return agent.graph.get_state(agent.config(offer.event_id))


def _thread(agent: Any, offer: Offer, pseudonym: str, role: str) -> dict[str, Any]:
    return agent_inbox.thread_out(offer, pseudonym, _snapshot(agent, offer), role)


@router.get("/threads/{thread_id}")
def get_thread(thread_id: ThreadId, key: MarketerOrManager, session: SessionDep, agent: AgentDep) -> dict:
    offer, pseudonym = _offer_thread(session, thread_id)
    return _thread(agent, offer, pseudonym, key.role)


@router.get("/threads/{thread_id}/state")
def get_thread_state(thread_id: ThreadId, key: MarketerOrManager, session: SessionDep, agent: AgentDep) -> dict:
    offer, pseudonym = _offer_thread(session, thread_id)
    return agent_inbox.state_out(offer, pseudonym, _snapshot(agent, offer), key.role)


class StateUpdateIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    values: Any = None
    as_node: str | None = None


@router.post("/threads/{thread_id}/state")
async def mark_thread_resolved(thread_id: ThreadId, body: StateUpdateIn, key: MarketerOrManager,
                               settings: SettingsDep, engine: EngineDep, agent: AgentDep) -> dict:
    """Mark resolved: the offer is closed unsent (a reject through the review path, noted as such)."""
    if body.values not in (None, {}, []) or body.as_node != "__end__":
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "only marking a thread resolved is supported (values null, as_node '__end__')")
    offer = await _decide(thread_id, agent_inbox.Decision(action="reject", note=RESOLVED_NOTE), key, settings, engine,
                          agent)
    snapshot = await run_in_threadpool(_snapshot, agent, offer)
    return {"checkpoint": agent_inbox.checkpoint_of(snapshot.config)}


class CommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resume: list[HumanResponse] = Field(min_length=1, max_length=1)


class RunIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    assistant_id: str = Field(max_length=128)
    input: Any = None
    command: CommandIn | None = None
    stream_mode: str | list[str] | None = None
    metadata: dict[str, Any] | None = None


async def _decide(thread_id: str, decision: agent_inbox.Decision, key: ApiKey, settings: Any, engine: Any,
                  agent: OfferAgent) -> Offer:
    """Apply a decision through the review path; returns the offer row afterwards."""
    with Session(engine) as session:
        offer, _ = _offer_thread(session, thread_id)
    if decision.action is not None:
        await submit_review(offer.id, action=decision.action, edits=decision.edits, note=decision.note, key=key,
                            settings=settings, engine=engine, agent=agent)
        with Session(engine) as session:
            offer, _ = _offer_thread(session, thread_id)
    return offer


async def _run(thread_id: str, body: RunIn, key: ApiKey, settings: Any, engine: Any,
               agent: OfferAgent) -> tuple[dict, list[str], Offer]:
    """Resume the thread with one HumanResponse; returns (Run, nodes that ran, offer afterwards)."""
    if body.assistant_id not in (agent_inbox.GRAPH_ID, agent_inbox.ASSISTANT_ID):
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"Invalid assistant ID {body.assistant_id!r}: this server runs {agent_inbox.GRAPH_ID!r}")
    if body.input is not None or body.command is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "only resuming an interrupted offer thread is supported: send command.resume")
    with Session(engine) as session:
        offer, _ = _offer_thread(session, thread_id)
    if offer.status != "pending_review":
        raise HTTPException(status.HTTP_409_CONFLICT, f"offer is {offer.status!r}, not waiting for review")
    decision = agent_inbox.decision_from(offer, body.command.resume[0])
    before = len((await run_in_threadpool(_snapshot, agent, offer)).values.get("steps", []))
    started = utcnow()
    offer = await _decide(thread_id, decision, key, settings, engine, agent)
    steps = (await run_in_threadpool(_snapshot, agent, offer)).values.get("steps", [])
    run = {"run_id": str(uuid.uuid4()), "thread_id": thread_id, "assistant_id": agent_inbox.ASSISTANT_ID,
           "created_at": started.isoformat(), "updated_at": utcnow().isoformat(), "status": "success",
           "metadata": body.metadata or {}, "multitask_strategy": "reject"}
    return run, list(steps[before:]), offer


@router.post("/threads/{thread_id}/runs")
async def create_run(thread_id: ThreadId, body: RunIn, key: MarketerOrManager, settings: SettingsDep,
                     engine: EngineDep, agent: AgentDep) -> dict:
    """Resume with `command.resume = [HumanResponse]`; answers once the decision is applied."""
    run, _nodes, _offer = await _run(thread_id, body, key, settings, engine, agent)
    return run


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n".encode()


@router.post("/threads/{thread_id}/runs/stream")
async def stream_run(thread_id: ThreadId, body: RunIn, key: MarketerOrManager, settings: SettingsDep,
                     engine: EngineDep, agent: AgentDep) -> StreamingResponse:
    """As `/runs`, answered as server-sent events: `metadata`, then per stream mode the nodes that ran
    (`updates`, `events`) and the final values (`values`). Refusals are HTTP errors, before any event."""
    run, nodes, offer = await _run(thread_id, body, key, settings, engine, agent)
    modes = [body.stream_mode] if isinstance(body.stream_mode, str) else (body.stream_mode or ["values"])
    snapshot = await run_in_threadpool(_snapshot, agent, offer)
    with Session(engine) as session:
        _, pseudonym = _offer_thread(session, thread_id)
    values = agent_inbox.values_of(snapshot, pseudonym)

    async def events() -> AsyncIterator[bytes]:
        yield _sse("metadata", {"run_id": run["run_id"], "attempt": 1})
        for part in _stream_parts(modes, nodes, values, run["run_id"]):
            yield part

    return StreamingResponse(events(), media_type="text/event-stream", headers={"cache-control": "no-store"})


def _stream_parts(modes: Sequence[str], nodes: list[str], values: dict[str, Any], run_id: str) -> list[bytes]:
    parts: list[bytes] = []
    if "events" in modes:
        for node in nodes:
            meta = {"langgraph_node": node, "run_id": run_id}
            parts.append(_sse("events", {"event": "on_chain_start", "name": node, "metadata": meta}))
            parts.append(_sse("events", {"event": "on_chain_end", "name": node, "metadata": meta}))
    if "updates" in modes:
        parts.extend(_sse("updates", {node: {"steps": [node]}}) for node in nodes)
    if "values" in modes:
        parts.append(_sse("values", values))
    return parts


@router.get("/info")
def info() -> dict:
    """What Agent Inbox asks a deployment when it is added (no key needed: nothing private here)."""
    return {"flags": {"assistants": False, "crons": False, "langsmith": False},
            "host": {"kind": "loyalty-agent", "project_id": None, "revision_id": "0.1.0", "tenant_id": None}}
