"""The human review step: who may do what to an escalated offer, and the graph node that waits for them.

A reviewer's decision is `{"action": "accept"|"edit"|"reject", "edits": {...}, "note": ..., "reviewer":
<key id>, "role": <key role>}`.
- Managers (and admins) accept, edit anything in EDITABLE_FIELDS, or reject. Their accept or edit is
  the approval: `execute` runs (after re-checking every rule against the guest as they are now).
- Marketers edit copy only (COPY_FIELDS) and reject. A marketer's edit is stored on the offer, re-checked
  by the rules and goes back to the queue marked `reviewed_by_marketer`: it never executes by itself.
- `edits` belong to `edit` only; an edit must validate as an `OfferDraft` (bounded types) before the
  graph resumes or anything is saved.
`check_decision` enforces this once, for the API (before the review is claimed) and for the node.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import ValidationError

from agent.audit_trail import audit
from agent.context import AgentContext
from agent.facts import jsonable
from agent.state import OfferState
from core.schemas import OfferDraft
from db import offers
from db.engine import session_scope

COPY_FIELDS = frozenset({"sms_text", "email_subject", "email_body"})
# The terms of an offer: what the guest gets, on what, until when, through which channel.
TERM_FIELDS = frozenset(
    {"offer_type", "sku", "category", "discount_pct", "discount_cents", "bonus_points", "expires_in_days", "channel"}
)
# Fields a reviewer may change. Everything else (customer, item safety facts, rationale) is not editable.
EDITABLE_FIELDS = COPY_FIELDS | TERM_FIELDS
APPROVER_ROLES = frozenset({"manager", "admin"})
REVIEW_ACTIONS = ("accept", "edit", "reject")


class ReviewError(ValueError):
    """A review decision that cannot be applied as sent (bad action, fields or values): 422."""


class ReviewForbidden(PermissionError):
    """The reviewer's role may not take this decision: 403."""


class ReviewConflict(RuntimeError):
    """The offer is not waiting for review (decided already, or another reviewer holds it): 409."""


def reviewer_ref(decision: dict[str, Any]) -> str:
    return f"reviewer:{decision.get('reviewer')}"


def is_approver(decision: dict[str, Any]) -> bool:
    return decision.get("role") in APPROVER_ROLES


def check_decision(current: OfferDraft, decision: dict[str, Any]) -> OfferDraft | None:
    """Validate a decision against the offer's current draft; the edited draft for an edit, else None."""
    action = decision.get("action")
    if action not in REVIEW_ACTIONS:
        raise ReviewError(f"action must be one of {list(REVIEW_ACTIONS)}, not {action!r}")
    edits = decision.get("edits") or {}
    if not isinstance(edits, dict):
        raise ReviewError("`edits` must be an object of field -> new value")
    if action != "edit":
        if edits:
            raise ReviewError(f"`edits` belong to action 'edit'; a {action!r} would ignore them")
        if action == "accept" and not is_approver(decision):
            raise ReviewForbidden(f"role {decision.get('role')!r} may edit copy or reject; a manager accepts")
        return None
    if not edits:
        raise ReviewError("an edit needs `edits`")
    unknown = set(edits) - EDITABLE_FIELDS
    if unknown:
        raise ReviewError(f"not editable: {sorted(unknown)}; editable: {sorted(EDITABLE_FIELDS)}")
    try:
        edited = OfferDraft.model_validate({**current.model_dump(), **edits})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ReviewError(f"the edited offer is not valid: {problems}") from exc
    term_changes = sorted(f for f in TERM_FIELDS if getattr(edited, f) != getattr(current, f))
    if term_changes and not is_approver(decision):
        raise ReviewForbidden(
            f"role {decision.get('role')!r} may change copy only ({sorted(COPY_FIELDS)}); "
            f"changing {term_changes} needs a manager"
        )
    return edited


def approved(state: OfferState) -> bool:
    """May this decision execute? The rules passed it with nobody reviewing, or a manager accepted or
    edited it (and the rules did not block). A marketer's decision never approves. A campaign brief that
    requires review (downgrade notices) never executes without a manager's decision."""
    if state.get("verdict") == "block":
        return False
    review = state.get("review")
    if review:
        return review.get("action") in ("accept", "edit") and is_approver(review)
    if (state.get("campaign") or {}).get("review_required"):
        return False
    return state.get("verdict") == "pass"


def human_review(state: OfferState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Pause for a person (Agent Inbox-compatible interrupt); resumes with their decision."""
    ctx = runtime.context
    report = state.get("report") or {}
    previous = state.get("review") or {}
    marketer_edit = previous.get("action") == "edit" and not is_approver(previous)
    reasons = [r["reason"] for r in report.get("results", []) if r.get("verdict") == "escalate"]
    if (state.get("campaign") or {}).get("review_required"):
        reasons.append(f"campaign: {state['campaign']['review_required']}")  # type: ignore[index]
    decision = interrupt(
        {
            "action_request": {
                "action": "review_offer",
                "args": {"offer_id": state.get("offer_id"), "offer": state.get("draft")},
            },
            "config": {"allow_accept": True, "allow_edit": True, "allow_respond": False, "allow_ignore": True},
            "description": ("Copy edited by a marketer; a manager accepts. " if marketer_edit else "")
            + "Escalated: "
            + "; ".join(reasons),
        }
    )
    offer_id = state.get("offer_id")
    assert offer_id is not None
    edited = check_decision(OfferDraft.model_validate(state.get("draft") or {}), decision)
    who = reviewer_ref(decision)
    update: dict[str, Any] = {"review": decision, "steps": ["human_review"]}
    outputs: dict[str, Any] = {"action": decision["action"], "note": decision.get("note"), "role": decision.get("role")}
    with session_scope(ctx.engine) as session:
        if decision["action"] == "reject":
            offers.reject(session, offer_id, reviewer=who)
        elif edited is not None:
            changes = offers.apply_edit(session, offer_id, edited, marketer=None if is_approver(decision) else who)
            outputs["edits"] = changes or {}  # field -> {"before": ..., "after": ...}
            update["draft"] = jsonable(edited)
        audit(ctx, state, "human_review", outputs, actor=who, session=session)
    return update


def route_after_review(state: OfferState) -> Literal["check_guardrails", "execute", "record"]:
    action = (state.get("review") or {}).get("action")
    if action == "reject":
        return "record"
    if action == "edit":
        return "check_guardrails"  # an edit is re-checked by the same rules before anything executes
    return "execute" if approved(state) else "check_guardrails"
