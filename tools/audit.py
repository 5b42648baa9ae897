"""Audit trail writer shared by the tools and the agent graph.

Every side effect leaves one `AuditEvent` row: who (actor), where (node), for which decision
(correlation id, offer id), what went in (a digest, not the data) and what came out. Outputs
are shown in the offer views, so contact PII is refused here rather than trusted to callers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from db.engine import core_connection
from db.tables import AuditEvent
from db.types import utcnow

# Keys that would carry a guest's contact details; outputs must reference customers by id/pseudonym.
CONTACT_PII_KEYS = frozenset(
    {
        "address",
        "email",
        "email_address",
        "family_name",
        "first_name",
        "given_name",
        "last_name",
        "name_on_file",
        "notes",
        "phone",
        "phone_number",
        "recipient",
        "to",
    }
)


def canonical_json(value: Any) -> str:
    """Stable JSON (sorted keys, no whitespace; datetimes etc. via str) so equal inputs hash equally."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def inputs_digest(inputs: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(inputs).encode()).hexdigest()


def find_contact_pii_keys(value: Any, *, path: str = "") -> list[str]:
    """Paths of keys in `value` (nested dicts/lists) that name contact PII fields."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if str(key).lower() in CONTACT_PII_KEYS:
                found.append(here)
            found.extend(find_contact_pii_keys(item, path=here))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found.extend(find_contact_pii_keys(item, path=f"{path}[{index}]"))
    return found


def audit_values(
    *,
    correlation_id: str,
    node: str,
    outputs: Mapping[str, Any],
    offer_id: str | None = None,
    actor: str = "agent",
    inputs: Any = None,
    model: str | None = None,
    prompt_version: str | None = None,
    verdicts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One audit row's column values. `inputs` is hashed, never stored. `outputs` is stored as JSON and must
    not contain contact PII keys (ValueError otherwise)."""
    leaked = find_contact_pii_keys(outputs)
    if leaked:
        raise ValueError(f"audit outputs must not contain contact PII fields: {', '.join(leaked)}")
    return {
        "correlation_id": correlation_id,
        "offer_id": offer_id,
        "node": node,
        "actor": actor,
        "inputs_digest": inputs_digest(inputs) if inputs is not None else None,
        "outputs": json.loads(canonical_json(dict(outputs))),
        "model": model,
        "prompt_version": prompt_version,
        "verdicts": verdicts,
        "created_at": utcnow(),
    }


_INSERT_AUDIT = insert(AuditEvent)  # built once: its compiled form is cached by the engine


def record_audit(session: Session, **values: Any) -> None:
    """Insert one audit row (`audit_values`' arguments) in `session`'s transaction: the caller's commit makes
    it durable with the effect it records. Pending ORM rows are flushed first, so an audit row never precedes
    the offer it names. A Core insert on the session's connection: every decision writes about eight, and
    both the unit of work and the ORM's insert path cost more than the row."""
    insert_audit_rows(session, [audit_values(**values)])


def insert_audit_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Rows of `audit_values` in one (execute)many, in the caller's transaction, after its pending ORM rows:
    a campaign chunk writes thousands, and an ORM object per row costs more than deciding the guest."""
    if rows:
        core_connection(session).execute(_INSERT_AUDIT, list(rows))  # Core: no ORM bulk-insert bookkeeping
