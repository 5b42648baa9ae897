"""What the offer page shows and how its form becomes a review decision.

The page is pseudonymous: the guest appears by pseudonym with tier, rhythm, favourites, recent
visits, allergies and consents (yes/no), never by name, POS id or contact. Reviewers in the audit
trail appear by API key id, name and role.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException, status
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, or_, select

from agent.review import COPY_FIELDS
from core.offer_words import describe_offer, money
from db.tables import ApiKey, AuditEvent, Customer, Offer

if TYPE_CHECKING:
    from agent.runner import OfferAgent


# Term inputs the page offers a manager, per offer type: (field, label, step).
_TERM_INPUTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "percent_off_item": (("discount_pct", "Discount %", "0.5"),),
    "percent_off_category": (("discount_pct", "Discount %", "0.5"),),
    "amount_off_item": (("discount_cents", "Discount (cents)", "1"),),
    "bonus_points": (("bonus_points", "Bonus points", "1"),),
    "free_item": (),
}
_COMMON_TERMS = (("expires_in_days", "Expires after (days)", "1"),)
_INT_FIELDS = frozenset({"discount_cents", "bonus_points", "expires_in_days"})
CHANNELS = ("sms", "email")


def done_message(action: str, offer_status: str, role: str) -> str | None:
    """What the reviewer's click did, in words (the offer's status now says where it went)."""
    if action == "reject":
        return "Rejected. Nothing was sent."
    if action not in ("accept", "edit"):
        return None
    head = "Accepted." if action == "accept" else "Edit saved and re-checked by the rules."
    if offer_status == "pending_review":
        if role == "marketer":
            return head + " It waits for a manager's accept."
        return head + " The re-check against the guest as they are now found a new reason to review: see the verdicts."
    tail = {
        "sent": " The rules passed for the guest as they are now; the offer is on its way.",
        "blocked": " The rules blocked it: nothing was sent.",
        "approved": " The decision stands; the POS was unreachable, the worker will execute it.",
    }.get(offer_status, "")
    return head + tail


_ACTIONS = {
    "marketer": (("edit", "Save copy edit for a manager"), ("reject", "Reject")),
    "manager": (("accept", "Accept as is"), ("edit", "Save edit and approve"), ("reject", "Reject")),
}


def age(at: datetime, now: datetime) -> str:
    hours = max(0.0, (now - at).total_seconds() / 3600)
    if hours < 1:
        return f"{int(hours * 60)} min"
    if hours < 48:
        return f"{hours:.0f} h"
    return f"{hours / 24:.0f} days"


def _reviewer_names(session: Session, actors: set[str]) -> dict[str, str]:
    ids = {int(a.split(":", 1)[1]) for a in actors if a.startswith("reviewer:") and a.split(":", 1)[1].isdigit()}
    if not ids:
        return {}
    keys = session.exec(select(ApiKey).where(col(ApiKey.id).in_(ids))).all()
    return {f"reviewer:{k.id}": f"key #{k.id}{f' {k.name}' if k.name else ''} ({k.role})" for k in keys}


def _changes(outputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Before/after pairs an audit row carries (edits store them as {field: {before, after}})."""
    for value in outputs.values():
        if isinstance(value, dict) and value and all(
            isinstance(v, dict) and set(v) == {"before", "after"} for v in value.values()
        ):
            return value
    return {}


@dataclass
class OfferView:
    offer: Offer
    guest: Any
    visits: list[dict[str, Any]]
    audit: list[dict[str, Any]]

    def context(self, role: str) -> dict[str, Any]:
        offer = self.offer
        editable = offer.status == "pending_review"
        manager = role in ("manager", "admin")
        terms: list[dict[str, Any]] = []
        if manager:
            for name, label, step in _TERM_INPUTS.get(offer.offer_type, ()) + _COMMON_TERMS:
                value = getattr(offer, name, None)
                terms.append({"name": name, "label": label, "step": step,
                              "value": 14 if name == "expires_in_days" and value is None else value})
            terms.append({"name": "channel", "label": "Channel", "choices": CHANNELS, "value": offer.channel})
        return {
            "offer": offer, "guest": self.guest, "visits": self.visits, "audit": self.audit,
            "editable": editable, "can_change_terms": manager, "term_fields": terms,
            "actions": [{"action": a, "label": label} for a, label in _ACTIONS["manager" if manager else "marketer"]],
            "describe": describe_offer,
        }


def load(agent: OfferAgent, offer_id: str) -> OfferView | None:
    from api.routes.customers import customer_out
    from profiles.fit import load_visits

    engine = agent.ctx.engine

    with Session(engine) as session:
        offer = session.get(Offer, offer_id)
        if offer is None:
            return None
        customer = session.get(Customer, offer.customer_id)
        assert customer is not None and customer.id is not None
        cond = col(AuditEvent.offer_id) == offer.id
        if offer.event_id:
            cond = or_(cond, col(AuditEvent.correlation_id) == offer.event_id)
        rows = session.exec(select(AuditEvent).where(cond).order_by(col(AuditEvent.id))).all()
        names = _reviewer_names(session, {r.actor for r in rows})
        visits = load_visits(session, customer_id=customer.id)[-5:]
    # The same summary GET /customers/{id} gives, without contact: this page is pseudonymous.
    guest = customer_out(customer, agent.profile_features(merchant_id=customer.merchant_id, customer_id=customer.id),
                         None)
    return OfferView(
        offer=offer,
        guest=guest,
        visits=[
            {"date": v.occurred_at.date().isoformat(), "dishes": [line.name for line in v.lines],
             "total": money(v.total_cents)}
            for v in reversed(visits)
        ],
        audit=[
            {"at": r.created_at.strftime("%Y-%m-%d %H:%M:%S UTC"), "node": r.node, "who": names.get(r.actor, r.actor),
             "outputs": r.outputs, "changes": _changes(r.outputs), "summary": _summary(r.outputs)}
            for r in rows
        ],
    )


def _summary(outputs: dict[str, Any]) -> str:
    for key in ("action", "outcome", "verdict", "make_offer"):
        if key in outputs:
            return f"{key}: {outputs[key]}"
    return "details"


# ---------------------------------------------------------------------------------- the form


def _typed(name: str, raw: str) -> Any:
    text = raw.strip()
    if name == "channel":
        if text not in CHANNELS:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"channel must be one of {list(CHANNELS)}")
        return text
    if not text:
        return None
    try:
        return int(text) if name in _INT_FIELDS else float(text)
    except ValueError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name} must be a number, not {text!r}") from None


def decision_from_form(engine: Engine, offer_id: str, form: dict[str, str]) -> tuple[str, dict, str | None]:
    """(action, edits, note) from the review form: edits are the fields that differ from the offer. Who
    may change what is the review path's rule (agent.review.check_decision), not the form's."""
    action = form.get("action", "")
    if action not in ("accept", "edit", "reject"):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "choose accept, edit or reject")
    with Session(engine) as session:
        offer = session.get(Offer, offer_id)
    if offer is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no offer {offer_id!r}")
    edits: dict[str, Any] = {}
    for name in sorted(COPY_FIELDS):
        if name in form:
            # Browsers send textarea line breaks as CRLF; the stored copy uses LF.
            value = form[name].replace("\r\n", "\n")
            current = getattr(offer, name) or ""
            if value != current:
                edits[name] = value or None
    for name in (*_INT_FIELDS, "discount_pct", "channel"):
        if name in form:
            value = _typed(name, form[name])
            current = getattr(offer, name, None)
            if name == "expires_in_days" and current is None:
                current = 14
            if value != current:
                edits[name] = value
    if edits:
        if action != "edit":
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"you changed {', '.join(sorted(edits))}: save it as an edit, or undo it to {action}")
    elif action == "edit":
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "nothing was changed: there is no edit to save")
    note = (form.get("note") or "").strip() or None
    return action, edits, note


def error_text(detail: Any) -> str:
    if isinstance(detail, list):
        return "; ".join(f"{'.'.join(str(x) for x in e.get('loc', []))}: {e.get('msg')}" if isinstance(e, dict)
                         else str(e) for e in detail)
    return str(detail)
