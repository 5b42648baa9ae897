"""The `openai` provider end to end with the real `openai` + `langchain-openai` clients against a
scripted OpenAI-compatible server on loopback speaking the Chat Completions wire format."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from agent.llm import BudgetedDrafter, OpenAIDrafter, get_drafter
from agent.offline_drafter import OfflineDrafter
from agent.read_tools import ReadToolContext, context_from_draft_input
from core.settings import Settings
from tests.integration.scripted_openai import (
    ScriptedOpenAIServer,
    error_reply,
    text_reply,
    tool_call,
    tool_calls_reply,
    tool_then_submit,
)
from tests.unit.test_drafting_model_loop import GOOD_OFFER
from tests.unit.test_drafting_offline import make_input, salmon_favourite


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer() as running:
        yield running


def settings_for(server: ScriptedOpenAIServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"llm_provider": "openai", "llm_base_url": server.base_url,
                              "llm_model": "scripted-model", "llm_api_key": "sk-scripted", "llm_timeout_s": 5.0}
    values.update(overrides)
    return Settings(**values)


def tool_names(request: dict[str, Any]) -> set[str]:
    return {tool["function"]["name"] for tool in request.get("tools", [])}


def test_tool_call_with_injected_context_then_structured_offer(server: ScriptedOpenAIServer) -> None:
    inp = make_input()
    base = context_from_draft_input(inp)
    calls: list[str] = []

    def offer_history(limit: int) -> list[Any]:
        calls.append(f"offer_history:{limit}")
        return []

    ctx = ReadToolContext(**{**base.__dict__, "offer_history": offer_history})
    server.push(
        tool_calls_reply(tool_call("lookup_catalog", {"sku": "TRUFFLE-FRIES"}, call_id="call_lookup"),
                         tool_call("get_offer_history", {}, call_id="call_hist")),
        tool_calls_reply(tool_call("submit_offer", GOOD_OFFER)),
    )
    result = OpenAIDrafter.from_settings(settings_for(server)).draft(inp, context=ctx)

    assert result.offer.make_offer and result.offer.sku == "TRUFFLE-FRIES" and result.offer.discount_pct == 15
    assert result.fallback_reason is None and not result.repaired
    assert result.model == "scripted-model" and result.model_calls == 2
    assert (result.tokens_in, result.tokens_out) == server.usage_totals()
    assert result.tokens_in > 0 and result.tokens_out > 0
    assert calls == ["offer_history:10"]

    first, second = server.requests
    assert first["model"] == "scripted-model"
    assert {"lookup_catalog", "get_purchase_history", "find_similar_purchases", "get_offer_history",
            "submit_offer"} <= tool_names(first)
    for tool in first["tools"]:
        params = set(tool["function"]["parameters"].get("properties", {}))
        assert not params & {"customer_id", "merchant_id", "location_id", "pseudonym"}
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    tool_messages = {m["tool_call_id"]: m["content"] for m in second["messages"] if m["role"] == "tool"}
    fries = json.loads(tool_messages["call_lookup"])["items"][0]
    assert fries["sku"] == "TRUFFLE-FRIES" and fries["margin_pct"] == 77.5 and fries["eligible_for_this_guest"]
    assert json.loads(tool_messages["call_hist"])["summary"]["offers_last_30d"] == 0
    assistant = next(m for m in second["messages"] if m["role"] == "assistant")
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_lookup", "call_hist"]


def test_malformed_json_is_repaired_over_the_wire(server: ScriptedOpenAIServer) -> None:
    server.push(
        tool_calls_reply(tool_call("submit_offer", '{"make_offer": true, "offer_type": "percent_off_')),
        tool_calls_reply(tool_call("submit_offer", GOOD_OFFER)),
    )
    result = OpenAIDrafter.from_settings(settings_for(server)).draft(make_input())
    assert result.repaired and result.fallback_reason is None and result.offer.sku == "TRUFFLE-FRIES"
    repair_request = server.requests[1]
    assert repair_request["tool_choice"] == {"type": "function", "function": {"name": "submit_offer"}}
    last = repair_request["messages"][-1]
    assert last["role"] == "user" and "not valid JSON" in last["content"]
    assert all(m["role"] != "assistant" for m in repair_request["messages"])  # bad call not replayed


def test_malformed_twice_falls_back_to_the_offline_draft(server: ScriptedOpenAIServer) -> None:
    inp = make_input(transaction=[], features={"favourite_items": [salmon_favourite(next_expected_in_days=1.0)]})
    bad = {**GOOD_OFFER, "offer_type": "percent_off_everything"}
    server.push(text_reply("Happy to help! I'd offer them something nice."),
                tool_calls_reply(tool_call("submit_offer", bad)))
    result = OpenAIDrafter.from_settings(settings_for(server)).draft(inp)
    assert result.fallback_reason is not None and result.fallback_reason.startswith("malformed_output")
    assert "offer_type" in result.fallback_reason
    assert result.offer == OfflineDrafter().draft(inp).offer
    assert result.model_calls == 2 and (result.tokens_in, result.tokens_out) == server.usage_totals()


def test_slow_server_falls_back_within_the_checkout_budget(server: ScriptedOpenAIServer) -> None:
    server.push(tool_calls_reply(tool_call("submit_offer", GOOD_OFFER), delay_s=1.5))
    drafter = get_drafter(settings_for(server, decision_budget_s=0.3))
    assert isinstance(drafter, BudgetedDrafter)
    started = time.monotonic()
    result = drafter.draft(make_input())
    elapsed = time.monotonic() - started
    drafter.close()
    assert elapsed < 0.8
    assert result.fallback_reason == "budget_exceeded" and result.model == "offline-drafter"


def test_transient_server_error_is_retried(server: ScriptedOpenAIServer) -> None:
    server.push(error_reply(503, "overloaded"), error_reply(429, "slow down"),
                tool_calls_reply(tool_call("submit_offer", GOOD_OFFER)))
    drafter = OpenAIDrafter.from_settings(settings_for(server), retry_wait_max_s=0.05)
    result = drafter.draft(make_input())
    assert result.fallback_reason is None and result.offer.sku == "TRUFFLE-FRIES"
    assert result.model_calls == 3 and len(server.requests) == 3


def test_model_answering_in_budget_is_used_through_get_drafter(server: ScriptedOpenAIServer) -> None:
    server.responder = tool_then_submit(("lookup_catalog", {"category": "sides"}), ("submit_offer", GOOD_OFFER))
    drafter = get_drafter(settings_for(server, decision_budget_s=5.0))
    results = [drafter.draft(make_input(pseudonym=f"cust_{i}")) for i in range(3)]
    assert isinstance(drafter, BudgetedDrafter)
    drafter.close()
    assert all(r.model == "scripted-model" and r.fallback_reason is None and r.model_calls == 2 for r in results)
    assert len(server.requests) == 6


def test_streaming_wire_format_for_benchmark_clients(server: ScriptedOpenAIServer) -> None:
    server.push(tool_calls_reply(tool_call("lookup_catalog", {"sku": "SORBET"}, call_id="call_s")))
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-scripted")
    stream = client.chat.completions.create(
        model="scripted-model", messages=[{"role": "user", "content": "hi"}], stream=True,
        stream_options={"include_usage": True},
    )
    name, arguments, usage = "", "", None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                if call.function is not None:
                    name += call.function.name or ""
                    arguments += call.function.arguments or ""
    assert name == "lookup_catalog" and json.loads(arguments) == {"sku": "SORBET"}
    assert usage is not None and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


