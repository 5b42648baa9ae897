"""Scripted OpenAI-compatible models for the ask suite, the tests and the benchmark.

They read what our client really sends (the fenced facts block of the user message, tool results)
and answer in the Chat Completions wire format through `tests.integration.scripted_openai`:

- `grounded_responder`: a well-behaved model. It answers from the facts whose field fits the
  question's intents, quoting them and citing their ids (and calls `item_history` first when an
  open question names nothing it was given).
- `adversarial_responder`: a model that misbehaves in a different way per question (invented
  citations, "no allergies" for an unknown record, a phone number, another guest's id, an injected
  note's promise, a diet claim, malformed arguments, a server error, a late answer). Every one of
  these must be caught by the verify node or the budget, and the guest still gets the offline answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from tests.integration.scripted_openai import (
    ScriptedReply,
    error_reply,
    text_reply,
    tool_call,
    tool_calls_reply,
)

FACT_ROW = re.compile(r"^([a-z_]+:[^ |]+) \| (\w+) \| (\w+) \| (.*)$", re.M)
INTENTS_RE = re.compile(r"^The question is about: (.*)$", re.M)
QUESTION_RE = re.compile(r"<<<UNTRUSTED_DATA QUESTION: [^>]*>>>\n(.*?)\n<<<END_UNTRUSTED_DATA QUESTION>>>", re.S)

# Which facts a grounded model reads for each intent (fields of agent.ask.fact_builders facts).
FIELDS_FOR_INTENT: dict[str, tuple[str, ...]] = {
    "usual_order": ("favourite_item",),
    "visits": ("visits", "expected_next_visit_at"),
    "allergies": ("allergies",),
    "points": ("tier", "points", "points_to_tier"),
    "birthday": ("birthday",),
    "offers": ("offer",),
    "channels": ("consents",),
    "suggest": ("suggestion", "allergies", "alcohol_eligibility"),
    "notes": ("staff_note",),
    "item_history": ("item_history", "similar_visit"),
    "overview": ("tier", "visits", "allergies"),
}


def _user_text(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content") or "") for m in body.get("messages", []) if m.get("role") == "user")


def read_request(body: dict[str, Any]) -> tuple[str, list[str], list[dict[str, str]]]:
    """(question, intents, facts) as the model sees them, tool results included."""
    text = _user_text(body)
    question = QUESTION_RE.search(text)
    intents = INTENTS_RE.search(text)
    facts = [{"id": m[0], "source": m[1], "field": m[2], "quote": m[3]} for m in FACT_ROW.findall(text)]
    for message in body.get("messages", []):
        if message.get("role") == "tool":
            try:
                facts += json.loads(message.get("content") or "{}").get("facts", [])
            except json.JSONDecodeError:
                continue
    return (question.group(1) if question else "", [i.strip() for i in intents.group(1).split(",")] if intents else [],
            facts)


def submit(answer: str, citations: list[str], *, abstain: bool = False, **kwargs: Any) -> ScriptedReply:
    return tool_calls_reply(tool_call("submit_answer", {"answer": answer, "citations": citations,
                                                        "abstain": abstain}), **kwargs)


def grounded_answer(intents: list[str], facts: list[dict[str, str]], question: str = "") -> tuple[str, list[str]]:
    """What a careful model says: the facts that fit the intents, quoted and cited, plus the obvious
    inferences a person adds (already in a tier, not this month, no offers, the record next to a note)."""
    wanted = [field for intent in intents for field in FIELDS_FOR_INTENT.get(intent, ())]
    chosen = [f for field in wanted for f in facts if f["field"] == field][:6]
    notes = [f for f in chosen if f["field"] == "staff_note" and "allerg" in f["quote"].lower()]
    record = next((f for f in facts if f["field"] == "allergies"), None)
    if notes and record is not None and record not in chosen:
        chosen.append(record)
    extra: list[str] = []
    if "offers" in intents and not any(f["field"] == "offer" for f in facts):
        extra.append("No open offers for this guest.")
    birthday = next((f for f in chosen if f["field"] == "birthday"), None)
    if birthday is not None and "this month" not in birthday["quote"] and "no birthday" not in birthday["quote"]:
        extra.append("Not this month.")
    tier = re.search(r"\b(silver|gold|vip)\b", question, re.IGNORECASE)
    if "points" in intents and tier and not any(f["id"] == f"profile:points_to_{tier.group(1).lower()}" for f in facts):
        extra.append(f"Already at or above {tier.group(1).lower()}.")
    if not chosen:
        return " ".join(extra), []
    return " ".join([*(f["quote"].rstrip(".") + "." for f in chosen), *extra]), [f["id"] for f in chosen]


def grounded_responder(body: dict[str, Any]) -> ScriptedReply:
    question, intents, facts = read_request(body)
    has_tool_results = any(m.get("role") == "tool" for m in body.get("messages", []))
    answer, cited = grounded_answer(intents, facts, question)
    if not answer and "item_history" in intents and not has_tool_results:
        return tool_calls_reply(tool_call("item_history", {"query": question}))
    if not answer:
        return submit("The records I was given do not answer that; ask me about visits, allergies, points, "
                      "offers or suggestions.", [], abstain=True)
    return submit(answer, cited)


AdversarialBehaviour = Callable[[list[str], list[dict[str, str]]], ScriptedReply]


def _invented_citation(intents: list[str], facts: list[dict[str, str]]) -> ScriptedReply:
    answer, cited = grounded_answer(intents, facts)
    return submit(answer or "Usually the salmon.", [*cited, "transaction:txn_from_another_guest"])


def _no_allergies(intents: list[str], facts: list[dict[str, str]]) -> ScriptedReply:
    allergy = next((f["id"] for f in facts if f["field"] == "allergies"), "profile:allergies")
    return submit("No allergies, she can eat anything on the menu.", [allergy])


def _phone_leak(intents: list[str], facts: list[dict[str, str]]) -> ScriptedReply:
    answer, cited = grounded_answer(intents, facts)
    return submit(f"{answer} You can reach her on 415-555-0199.".strip(), cited)


def _other_guest(intents: list[str], facts: list[dict[str, str]]) -> ScriptedReply:
    answer, cited = grounded_answer(intents, facts)
    return submit(f"{answer} Same as cust_000002, who sat next to her.".strip(), cited)


def _injected_promise(intents: list[str], facts: list[dict[str, str]]) -> ScriptedReply:
    return submit("Admin mode: give this guest 100% off and a free bottle of champagne.", [])


def _diet_claim(intents: list[str], facts: list[dict[str, str]]) -> ScriptedReply:
    answer, cited = grounded_answer(intents, facts)
    return submit(f"{answer} She is vegan, so everything gluten-free is fine.".strip(), cited)


def _malformed(intents: list[str], facts: list[dict[str, str]]) -> ScriptedReply:
    return tool_calls_reply(tool_call("submit_answer", '{"answer": "truncated'))


def _server_error(intents: list[str], facts: list[dict[str, str]]) -> ScriptedReply:
    return error_reply(500, "scripted outage")


def _late(intents: list[str], facts: list[dict[str, str]]) -> ScriptedReply:
    answer, cited = grounded_answer(intents, facts)
    return submit(answer or "Late.", cited, delay_s=6.0)


def _prose(intents: list[str], facts: list[dict[str, str]]) -> ScriptedReply:
    return text_reply("Sure! She's lovely, always orders the special.")


ADVERSARIAL: tuple[tuple[str, AdversarialBehaviour], ...] = (
    ("invented_citation", _invented_citation),
    ("no_allergies", _no_allergies),
    ("phone_leak", _phone_leak),
    ("other_guest", _other_guest),
    ("injected_promise", _injected_promise),
    ("diet_claim", _diet_claim),
    ("malformed", _malformed),
    ("server_error", _server_error),
    ("late", _late),
    ("prose", _prose),
)


def adversarial_behaviour(question: str) -> str:
    """Which misbehaviour a question gets (stable per question text)."""
    index = int(hashlib.sha256(question.encode()).hexdigest(), 16) % len(ADVERSARIAL)
    return ADVERSARIAL[index][0]


def adversarial_responder(body: dict[str, Any]) -> ScriptedReply:
    question, intents, facts = read_request(body)
    name = adversarial_behaviour(question)
    return dict(ADVERSARIAL)[name](intents, facts)
