"""State of the associate Q&A graph (one run per question).

Values are plain JSON-able data. Nothing here holds contact PII: the question is kept (associates
type it), facts are PII-free by construction, and the guest's contact values used by the verify
node are read from the database inside that node, never stored in state.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict


class AskState(TypedDict, total=False):
    ask_id: str
    """Correlation id of this question: every audit row of the run carries it."""

    question: str
    """The associate's question as typed (at most 1,000 characters; untrusted text)."""

    pos_customer_id: str
    """The POS id the associate opened: the only guest this run may talk about."""

    customer_id: int
    """Our id of that guest, resolved before the run (injected, never taken from the question)."""

    intents: list[str]
    """What the question asks (agent.ask.schemas.Intent values), in answer order."""

    facts: list[dict[str, Any]]
    """Retrieved facts (agent.ask.schemas.Fact dumps); the only ids an answer may cite."""

    draft: dict[str, Any] | None
    """The current answer proposal (AnswerDraft dump) before it is verified."""

    problems: list[str]
    """Why the last verified draft failed (empty when it passed)."""

    verified: bool
    """Whether the current draft passed every check of the verify node."""

    fallback_reason: str | None
    """Why the answer is not the first answerer's (model error, budget, failed verification)."""

    answer: dict[str, Any] | None
    """The response (AskAnswer dump) once `respond` ran."""

    steps: Annotated[list[str], operator.add]
    """Nodes visited, in order (appended by each node)."""
