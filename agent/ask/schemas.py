"""What the associate Q&A agent works with: intents, retrieved facts, citations and the answer.

A `Fact` is one retrieved, PII-free statement about the guest in front of the associate (or about
a menu item), with a stable id. Answers cite facts by id; the verify node accepts a citation only
if its id is among the facts retrieved for this question, so an answer can never point at data it
was not given (another guest's visit, an invented offer).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

FactSource = Literal["transaction", "profile", "offer", "catalog", "note"]

Intent = Literal[
    "usual_order",  # favourites, what they usually order
    "visits",  # last visit, rhythm, expected next visit (BG/NBD), "is she due?"
    "allergies",  # allergies as recorded: unknown / none recorded / list
    "points",  # points balance, tier, points to the next tier
    "birthday",  # birthday this month?
    "offers",  # pending offers / promo codes this guest holds
    "channels",  # which channels they opted in to (yes/no only)
    "suggest",  # what to suggest today (allergen + alcohol filters of the guardrails)
    "notes",  # staff notes (untrusted, pseudonymized, quoted)
    "item_history",  # "has she ever had anything with truffle?"
    "overview",  # "tell me about this guest"
    "contact_request",  # name / phone / email / address: refused
    "other_guest",  # another guest's data: refused
    "unsupported",  # anything else: say plainly what can be answered
]

# Intents the deterministic answerer covers completely; the rest are open questions a model may take.
COMMON_INTENTS: frozenset[str] = frozenset(
    {"usual_order", "visits", "allergies", "points", "birthday", "offers", "channels", "suggest", "notes"}
)
REFUSAL_INTENTS: frozenset[str] = frozenset({"contact_request", "other_guest"})
# What an associate can ask, said when a question is outside it (a fixed text: it states no fact).
CAPABILITIES = (
    "I can tell you this guest's usual order and favourites, last visit and when they are due, allergies as "
    "recorded, points and tier, whether their birthday is this month, open offers, which channels they opted "
    "in to, what to suggest today, the staff note, and whether they have ordered a menu item."
)


class Fact(BaseModel):
    """One retrieved statement with the id answers cite it by (quotes never hold contact PII)."""

    id: str = Field(description="Stable id, e.g. profile:allergies, transaction:txn_ab12, catalog:PAD-THAI.")
    source: FactSource
    field: str = Field(description="What the fact is about, e.g. allergies, favourite_item, visit.")
    quote: str = Field(description="The fact as a short human-readable statement.")
    value: Any = Field(default=None, description="Structured value the offline answerer computes with.")

    def citation(self) -> Citation:
        return Citation(source=self.source, id=self.id, field=self.field, quote=self.quote)


class Citation(BaseModel):
    """A fact an answer rests on, as the API returns it (contract)."""

    source: FactSource
    id: str
    field: str
    quote: str


class AnswerDraft(BaseModel):
    """An answerer's proposal, before verification: text, cited fact ids, abstention."""

    answer: str
    cited_ids: list[str] = Field(default_factory=list)
    abstained: bool = False
    model: str
    prompt_version: str
    model_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    fallback_reason: str | None = None
    extra_facts: list[Fact] = Field(
        default_factory=list, description="Facts the model's read tools retrieved (this guest only)."
    )


class AskAnswer(BaseModel):
    """The response of POST /customers/{customer_id}/ask (contract)."""

    answer: str
    citations: list[Citation] = Field(default_factory=list)
    abstained: bool = False
    model: str
    prompt_version: str


class AskResult(BaseModel):
    """The answer plus what produced it (CLI, evals and benchmarks read these; the API returns `answer`)."""

    ask_id: str
    answer: AskAnswer
    intents: list[str]
    retrieved_ids: list[str]
    verification_problems: list[str] = Field(default_factory=list)
    fallback_reason: str | None = None
    model_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
