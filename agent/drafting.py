"""The drafter contract: what any drafter takes, what it returns, and when its draft is unusable.

A `Drafter` turns a `DraftInput` (agent.draft_input) into a `DraftResult`. Implementations: the
offline drafter (agent.offline_drafter) and the model providers (agent.llm). `draft_problems` is the
check a drafter runs on its own draft before handing it on (the model's repair turn): the offer shape
rules of core.offer_shape against the catalog this guest was shown. Policy stays the guardrails' job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from agent.draft_input import DraftInput as DraftInput  # re-exported: the input half of the contract
from core.offer_shape import channel_copy_problems, shape_problems, target_problems
from core.schemas import OfferDraft

if TYPE_CHECKING:
    from agent.read_tools import ReadToolContext


class DraftResult(BaseModel):
    """A draft plus what produced it, recorded in the audit trail."""

    offer: OfferDraft
    model: str
    prompt_version: str
    model_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    fallback_reason: str | None = None
    repaired: bool = False

    @property
    def meta(self) -> dict[str, Any]:
        """What produced the draft, as the graph state and the audit trail record it."""
        return self.model_dump(exclude={"offer"})


class Drafter(Protocol):
    """Anything that turns a DraftInput into a DraftResult. `context` feeds the model's read-only
    tools (drafters without tools ignore it)."""

    def draft(self, inp: DraftInput, *, context: ReadToolContext | None = None) -> DraftResult: ...


def reads_staff_notes(drafter: Drafter) -> bool:
    """Whether `drafter` reads staff notes (a model does; the offline drafter decides on facts alone, so
    for it the notes are not pseudonymized at all: Presidio costs 10-25 ms per guest not cached)."""
    return bool(getattr(drafter, "reads_staff_notes", True))


def draft_problems(offer: OfferDraft, inp: DraftInput) -> list[str]:
    """What makes a draft unusable for this input: the offer's shape, its target in the catalog the
    guest was shown (`eligible_catalog`), a category offer on an excluded category (it would reach
    items this guest may not be offered), and the chosen channel's copy."""
    if not offer.make_offer:
        return []
    problems = shape_problems(offer)
    if offer.offer_type is None:
        return problems
    eligible = {item.sku: item for item in inp.eligible_catalog}
    problems += target_problems(offer, eligible, catalog_name="eligible catalog")
    if offer.offer_type == "percent_off_category" and offer.category in inp.excluded_categories:
        problems.append(
            f"category {offer.category!r} holds items this guest may not be offered; offer a single item instead"
        )
    return problems + channel_copy_problems(offer)
