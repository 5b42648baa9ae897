"""The ask model path with the real `openai` + `langchain-openai` clients against a scripted
OpenAI-compatible server on loopback, over a seeded sandbox with real Presidio.

A well-behaved model answers open questions in one call and may read a tool bound to the guest; every
misbehaviour (invented citation, "no allergies", a phone number, another guest, an injected promise,
a diet claim, malformed or prose output, a server error, a late answer) ends in the offline answer
with the reason recorded; nothing identifying the guest is ever sent to the model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session, col, select

from agent.ask.service import AskAgent
from db.tables import Customer, CustomerContact
from evals.ask.scripted import ADVERSARIAL, grounded_responder, read_request
from evals.ask.world import AskWorld, build_world
from tests.integration.scripted_openai import ScriptedOpenAIServer, ScriptedReply, tool_call, tool_calls_reply


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> AskWorld:
    return build_world(tmp_path_factory.mktemp("ask-model"), customers=120)


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer() as running:
        yield running


def agent_for(world: AskWorld, server: ScriptedOpenAIServer, *, model_for: str = "all", budget: float = 2.0
              ) -> AskAgent:
    settings = world.settings.model_copy(update={
        "llm_provider": "openai", "llm_base_url": server.base_url, "llm_model": "scripted-model",
        "llm_api_key": "sk-scripted", "llm_timeout_s": 10.0, "ask_budget_s": budget})
    return world.agent(model_settings=settings, model_for=model_for)


def guest(world: AskWorld, *, allergies: str = "any", with_note: bool = False) -> tuple[Customer, CustomerContact]:
    with Session(world.engine) as session:
        for customer in session.exec(select(Customer).order_by(col(Customer.id))):
            contact = session.get(CustomerContact, customer.id)
            state = "unknown" if customer.allergies is None else ("none" if not customer.allergies else "list")
            if contact is None or not contact.phone or (allergies != "any" and state != allergies):
                continue
            if with_note and not contact.notes:
                continue
            return customer, contact
    raise AssertionError("no fitting sandbox guest")


def test_open_question_one_call_grounded_and_nothing_identifying_sent(world: AskWorld,
                                                                      server: ScriptedOpenAIServer) -> None:
    server.responder = grounded_responder
    customer, contact = guest(world, with_note=True)
    agent = agent_for(world, server, model_for="open")
    result = agent.ask(customer.pos_customer_id, "tell me about this guest", actor="test")
    assert result.answer.model == "scripted-model" and result.fallback_reason is None
    assert result.model_calls == 1 and len(server.requests) == 1
    assert {c.id for c in result.answer.citations} <= set(result.retrieved_ids)
    assert "profile:allergies" in {c.id for c in result.answer.citations}
    body = json.dumps(server.requests)
    for value in (contact.given_name, contact.family_name, contact.email, contact.phone, customer.pseudonym,
                  customer.pos_customer_id):
        assert value and value not in body
    for tool in server.requests[0]["tools"]:
        assert not set(tool["function"]["parameters"].get("properties", {})) & {"customer_id", "pos_customer_id",
                                                                                 "guest", "pseudonym"}
    assert "UNTRUSTED_DATA FACTS" in body  # facts (note quotes included) are fenced as data
    agent.close()


def test_common_questions_never_reach_the_model_by_default(world: AskWorld, server: ScriptedOpenAIServer) -> None:
    server.responder = grounded_responder
    customer, _ = guest(world)
    agent = agent_for(world, server, model_for="open")
    for question in ("any allergies?", "how many points until gold?", "what's her phone number?",
                     "what did cust_000002 order?"):
        assert agent.ask(customer.pos_customer_id, question, actor="test").answer.model == "offline"
    assert server.requests == []
    agent.close()


def test_model_reads_a_bound_tool_then_cites_what_it_returned(world: AskWorld, server: ScriptedOpenAIServer) -> None:
    customer, _ = guest(world)

    def respond(body: dict[str, Any]) -> ScriptedReply:
        _question, _intents, facts = read_request(body)
        if not any(m.get("role") == "tool" for m in body["messages"]):
            return tool_calls_reply(tool_call("lookup_menu", {"query": "tiramisu"}))
        menu = next(f for f in facts if f["id"] == "catalog:TIRAMISU")
        return tool_calls_reply(tool_call("submit_answer", {"answer": menu["quote"], "citations": [menu["id"]]}))

    server.responder = respond
    agent = agent_for(world, server)
    result = agent.ask(customer.pos_customer_id, "what's in the tiramisu, does she like it?", actor="test")
    assert result.answer.model == "scripted-model", result.fallback_reason
    assert result.model_calls == 2 and [c.id for c in result.answer.citations] == ["catalog:TIRAMISU"]
    assert "contains alcohol" in result.answer.citations[0].quote
    agent.close()


@pytest.mark.parametrize("behaviour", [name for name, _ in ADVERSARIAL])
def test_every_misbehaviour_ends_in_the_offline_answer(world: AskWorld, server: ScriptedOpenAIServer,
                                                        behaviour: str) -> None:
    customer, contact = guest(world, allergies="unknown")
    misbehave = dict(ADVERSARIAL)[behaviour]

    def respond(body: dict[str, Any]) -> ScriptedReply:
        _question, intents, facts = read_request(body)
        return misbehave(intents, facts)

    server.responder = respond
    agent = agent_for(world, server, budget=1.0)
    started = time.perf_counter()
    result = agent.ask(customer.pos_customer_id, "does she have any allergies, and what does she usually get?",
                       actor="test")
    elapsed = time.perf_counter() - started
    assert result.answer.model == "offline" and result.fallback_reason, behaviour
    assert "unknown" in result.answer.answer.lower() and "no allergies" not in result.answer.answer.lower()
    assert contact.phone and contact.phone[-4:] not in result.answer.answer
    assert "cust_000002" not in result.answer.answer and "100%" not in result.answer.answer
    if behaviour == "late":
        assert result.fallback_reason == "budget_exceeded" and elapsed < 5.0
    agent.close()
