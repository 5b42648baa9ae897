"""Offer threads in the shapes of the LangGraph server API, as LangChain's Agent Inbox reads them.

A thread is one offer decision: `thread_id` is the inbox event id (the offer graph's thread id).
Its status comes from the offer row, the one home of an offer's lifecycle (db.offers):

    pending_review                 -> interrupted   (waits for a person)
    drafted | reviewing | approved -> busy          (being decided or executed)
    anything else                  -> idle          (sent, blocked, rejected, cancelled)

The interrupt follows Agent Inbox's `HumanInterrupt`: `action_request {action: "review_offer",
args}` with the offer's current, typed fields as args (edits land on the row, so the row is the
truth), `config {allow_accept, allow_edit, allow_respond, allow_ignore}` for the caller's role (a
marketer may not accept), and the graph's own `description`. The interrupt id is the checkpoint's.

A reply (`HumanResponse`) becomes a review decision:
- `accept`: args may come back as strings (Agent Inbox edits text); they are converted to the
  fields' types, and must equal the offer (an accept that changes something is refused);
- `edit`: the changed fields, typed, go to the review path as `edits` (same roles, re-check);
- `response`: a note, and the offer is rejected;
- `ignore`: nothing happens, the offer stays pending.

Thread values are a curated view of the checkpoint: no internal customer id, no drafting input or
features, the guest only by pseudonym.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal
from uuid import NAMESPACE_URL, uuid5

from fastapi import HTTPException, status
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, TypeAdapter, ValidationError

from core.schemas import OfferDraft
from db import offers
from db.review_queue import escalations
from db.tables import Offer

GRAPH_ID = "offer_agent"
"""The offer graph's name in langgraph.json."""
ASSISTANT_ID = str(uuid5(NAMESPACE_URL, "loyalty-agent/graphs/offer_agent"))
REVIEW_ACTION = "review_offer"

ThreadStatus = Literal["idle", "busy", "interrupted", "error"]
_BUSY = frozenset({offers.DRAFTED, offers.REVIEWING, offers.APPROVED})
OFFER_STATUSES_BY_THREAD_STATUS: dict[str, tuple[str, ...]] = {
    "interrupted": (offers.PENDING_REVIEW,),
    "busy": tuple(sorted(_BUSY)),
    "idle": tuple(s for s in offers.OFFER_STATUSES if s != offers.PENDING_REVIEW and s not in _BUSY),
    "error": (),
}
ARG_FIELDS = ("offer_type", "sku", "category", "discount_pct", "discount_cents", "bonus_points", "expires_in_days",
              "channel", "sms_text", "email_subject", "email_body")
_TEXT_FIELDS = frozenset({"offer_type", "sku", "category", "channel", "sms_text", "email_subject", "email_body"})
# State keys shown to clients; the rest (customer id, drafting input, features) stays inside.
_VISIBLE_VALUES = ("event_id", "offer_id", "merchant_id", "location_id", "draft", "draft_meta", "verdict", "report",
                   "review", "outcome", "steps")


_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(field.annotation) for name, field in OfferDraft.model_fields.items()  # type: ignore[arg-type]
    if name in ARG_FIELDS
}


def thread_status(offer_status: str) -> ThreadStatus:
    if offer_status == offers.PENDING_REVIEW:
        return "interrupted"
    return "busy" if offer_status in _BUSY else "idle"


def metadata(offer: Offer, pseudonym: str) -> dict[str, Any]:
    return {"graph_id": GRAPH_ID, "assistant_id": ASSISTANT_ID, "offer_id": offer.id, "customer": pseudonym,
            "trigger": offer.trigger, "strategy": offer.strategy}


def review_args(offer: Offer) -> dict[str, Any]:
    """The offer's reviewable fields, typed, as the interrupt's args."""
    args: dict[str, Any] = {"offer_id": offer.id}
    for name in ARG_FIELDS:
        args[name] = getattr(offer, name)
    if args["expires_in_days"] is None:
        args["expires_in_days"] = OfferDraft.model_fields["expires_in_days"].default
    return args


def allowed(role: str) -> dict[str, bool]:
    """What the caller's role may answer (a marketer edits copy and rejects; a manager also accepts)."""
    return {"allow_accept": role in ("manager", "admin"), "allow_edit": True, "allow_respond": True,
            "allow_ignore": True}


def _description(offer: Offer, raw: Any) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("description"), str):
        return str(raw["description"])
    return "Escalated: " + "; ".join(str(e["reason"]) for e in escalations(offer))


def interrupts_of(offer: Offer, snapshot: Any, role: str) -> list[dict[str, Any]]:
    """The pending HumanInterrupt(s) of an offer thread, as `Interrupt {value, id}`."""
    if offer.status != offers.PENDING_REVIEW:
        return []
    pending = list(getattr(snapshot, "interrupts", ()) or ())
    raw = pending[-1] if pending else None
    value = {
        "action_request": {"action": REVIEW_ACTION, "args": review_args(offer)},
        "config": allowed(role),
        "description": _description(offer, getattr(raw, "value", None)),
    }
    return [{"value": value, "id": getattr(raw, "id", None) or f"offer-{offer.id}"}]


def checkpoint_of(config: dict[str, Any] | None) -> dict[str, Any] | None:
    if not config:
        return None
    conf = config.get("configurable", {})
    return {"thread_id": conf.get("thread_id"), "checkpoint_ns": conf.get("checkpoint_ns", ""),
            "checkpoint_id": conf.get("checkpoint_id"), "checkpoint_map": conf.get("checkpoint_map")}


def values_of(snapshot: Any, pseudonym: str) -> dict[str, Any]:
    values = snapshot.values or {}
    shown = {k: values[k] for k in _VISIBLE_VALUES if k in values}
    return jsonable_encoder({**shown, "customer": pseudonym})


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def thread_out(offer: Offer, pseudonym: str, snapshot: Any, role: str) -> dict[str, Any]:
    """A `Thread` of the LangGraph server API."""
    pending = interrupts_of(offer, snapshot, role)
    task_id = next((t.id for t in snapshot.tasks if t.interrupts), None) or "human_review"
    return {
        "thread_id": offer.event_id,
        "created_at": _iso(offer.created_at),
        "updated_at": _iso(offer.updated_at),
        "metadata": metadata(offer, pseudonym),
        "status": thread_status(offer.status),
        "values": values_of(snapshot, pseudonym),
        "interrupts": {task_id: pending} if pending else {},
    }


def state_out(offer: Offer, pseudonym: str, snapshot: Any, role: str) -> dict[str, Any]:
    """A `ThreadState` of the LangGraph server API (the latest checkpoint)."""
    pending = interrupts_of(offer, snapshot, role)
    tasks = [
        {"id": t.id, "name": t.name, "error": None if t.error is None else str(t.error),
         "interrupts": pending if t.interrupts else [], "checkpoint": None, "state": None, "result": None}
        for t in snapshot.tasks
    ]
    return {
        "values": values_of(snapshot, pseudonym),
        "next": list(snapshot.next),
        "checkpoint": checkpoint_of(snapshot.config),
        "metadata": jsonable_encoder(snapshot.metadata or {}),
        "created_at": snapshot.created_at,
        "parent_checkpoint": checkpoint_of(snapshot.parent_config),
        "tasks": tasks,
        "interrupts": pending,
    }


# ---------------------------------------------------------------------------------- replies


class HumanResponse(BaseModel):
    type: Literal["accept", "ignore", "response", "edit"]
    args: str | dict[str, Any] | None = None


class Decision(BaseModel):
    """A reply turned into a review decision; `action` None means ignore (nothing happens)."""

    action: Literal["accept", "edit", "reject"] | None
    edits: dict[str, Any] = {}
    note: str | None = None


def _unprocessable(message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, message)


def _typed(offer: Offer, name: str, value: Any) -> Any:
    """`value` as the field's type; Agent Inbox sends edited values as strings (JSON for non-strings)."""
    current = getattr(offer, name)
    if isinstance(value, str) and name in _TEXT_FIELDS:
        if value == "" or (value == "null" and current is None):
            return None
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text) if text else None
        except ValueError:
            raise _unprocessable(f"{name}: {value[:40]!r} is not a number") from None
    try:
        return _ADAPTERS[name].validate_python(value)
    except ValidationError as exc:
        raise _unprocessable(f"{name}: {exc.errors()[0]['msg']}") from None


def changed_fields(offer: Offer, action_request: Any) -> dict[str, Any]:
    """The typed args of an `ActionRequest` that differ from the offer (the offer id must match)."""
    if not isinstance(action_request, dict) or not isinstance(action_request.get("args"), dict):
        raise _unprocessable("args must be an ActionRequest {action, args}")
    if action_request.get("action", REVIEW_ACTION) != REVIEW_ACTION:
        raise _unprocessable(f"action must be {REVIEW_ACTION!r}")
    args = action_request["args"]
    unknown = set(args) - {"offer_id", *ARG_FIELDS}
    if unknown:
        raise _unprocessable(f"not reviewable: {sorted(unknown)}")
    if "offer_id" in args and str(args["offer_id"]) != offer.id:
        raise _unprocessable("offer_id does not match this thread")
    current = review_args(offer)
    typed = {name: _typed(offer, name, value) for name, value in args.items() if name != "offer_id"}
    return {name: value for name, value in typed.items() if value != current[name]}


def decision_from(offer: Offer, response: HumanResponse) -> Decision:
    if response.type == "ignore":
        return Decision(action=None)
    if response.type == "response":
        note = response.args.strip() if isinstance(response.args, str) else ""
        if not note or len(note) > 2000:
            raise _unprocessable("a response is a note of 1 to 2000 characters; it rejects the offer")
        return Decision(action="reject", note=note)
    if response.type == "accept":
        changes = changed_fields(offer, response.args) if response.args is not None else {}
        if changes:
            raise _unprocessable(f"an accept cannot change the offer ({', '.join(sorted(changes))}); send an edit")
        return Decision(action="accept")
    changes = changed_fields(offer, response.args)
    if not changes:
        raise _unprocessable("the edit changes nothing")
    return Decision(action="edit", edits=changes)
