"""State of the transaction-event offer graph (one thread per inbox event).

Values are plain JSON-able data so the durable checkpointer can store and restore them exactly.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Annotated, Any, TypedDict

from profiles.features import ProfileFeatures


class OfferState(TypedDict, total=False):
    event_id: str
    """Inbox event id: the graph's thread id and the correlation id of every audit row."""

    transaction_id: int
    """Our id of the recorded POS transaction that triggered the decision (absent for a campaign decision)."""

    campaign: dict[str, Any] | None
    """A campaign decision's brief (agent.campaigns.brief.CampaignBrief dump: campaign, kind, item, channel,
    review requirement), injected by the campaign runner (agent.campaigns.run); None for a sale."""

    merchant_id: str
    """Tenant of the transaction (injected from the database, never from the model)."""

    customer_id: int
    """Our customer id (never shown to the model: it sees the pseudonym only)."""

    location_id: str
    """Location of the sale (timezone, alcohol policy)."""

    late: str | None
    """Why the sale is too old to act on (received more than the policy's `realtime_window` after it
    happened; agent.lateness), else None. A late sale updates the profile and ends `late`: no draft."""

    features: dict[str, Any] | None
    """Profile features after this transaction: `ProfileFeatures.model_dump(mode="json")`, None when the
    guest has no visit yet. Stored as its dump so any checkpointer restores it; read it with
    `decision_features`, which validates it back into `ProfileFeatures`."""

    draft_input: dict[str, Any]
    """What the drafter sees: pseudonymous profile, eligible catalog, complements, history."""

    draft: dict[str, Any] | None
    """The drafted offer (core.schemas.OfferDraft dump); None before drafting."""

    draft_meta: dict[str, Any]
    """Model name, prompt version, model calls, tokens, fallback reason of the draft."""

    offer_id: str | None
    """The offer row created for an offer draft (deterministic from event id)."""

    verdict: str | None
    """Combined guardrail verdict: pass | block | escalate."""

    report: dict[str, Any] | None
    """The full guardrail report (every rule's verdict and the deferred send time)."""

    review: dict[str, Any] | None
    """The latest reviewer's decision (action, edits, note, reviewer key id, role); None while nobody has
    decided, and again when `execute` sends the offer back for an escalation that decision did not cover."""

    executed: str | None
    """What `execute` came to: sent | blocked (re-check failed a rule) | review (new escalation)."""

    outcome: str | None
    """sent | pending_review | blocked | no_offer | rejected."""

    steps: Annotated[list[str], operator.add]
    """Nodes visited, in order (appended by each node)."""


def decision_features(values: Mapping[str, Any]) -> ProfileFeatures | None:
    """The decision's profile features, typed, from graph state values (None: no visit yet)."""
    dump = values.get("features")
    return ProfileFeatures.model_validate(dump) if dump else None
