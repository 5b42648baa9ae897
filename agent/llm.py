"""Model providers behind the `Drafter` interface.

- `OpenAIDrafter`: any OpenAI-compatible Chat Completions endpoint through `langchain-openai`. The
  model may call the read-only tools of agent/read_tools.py for a bounded number of rounds and must
  finish with a `submit_offer` tool call whose arguments are an `OfferDraft`. Transient API errors
  are retried with tenacity; malformed output gets one repair turn (the validation errors are sent
  back), then the offline draft is used and the reason recorded. The model is never the last word:
  whatever it drafts goes through the guardrails.
- `BudgetedDrafter`: the checkout budget. The primary drafter runs in a worker thread; if it has not
  answered within `budget_s` (or fails), the fallback's draft is returned with `fallback_reason`.
- `get_drafter(settings)`: the factory the graph uses (LLM_PROVIDER=offline | openai).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from typing import Any

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import SecretStr, ValidationError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from agent.draft_input import DraftInput
from agent.drafting import Drafter, DraftResult, draft_problems
from agent.offline_drafter import OfflineDrafter
from agent.pricing import margin_after_discount
from agent.read_tools import ReadToolContext, build_read_tools, context_from_draft_input
from core.schemas import OfferDraft
from core.settings import Settings
from prompts import fence_untrusted, load_prompt

logger = logging.getLogger(__name__)

SUBMIT_TOOL_NAME = "submit_offer"
# Errors worth another attempt: the request may succeed unchanged. APITimeoutError is a subclass of
# APIConnectionError. Anything else (auth, bad request) would fail the same way again.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    openai.APIConnectionError,
    openai.RateLimitError,
    openai.InternalServerError,
)


# --------------------------------------------------------------------------- prompts


def _submit_offer_tool() -> dict[str, Any]:
    spec = convert_to_openai_tool(OfferDraft)
    spec["function"]["name"] = SUBMIT_TOOL_NAME
    spec["function"]["description"] = (
        "Submit your final decision for this guest exactly once: the structured offer, or make_offer=false."
    )
    return spec


def _catalog_block(inp: DraftInput) -> str:
    rows = []
    for item in inp.eligible_catalog:
        margin = margin_after_discount(item, 0)
        rows.append(
            f"{item.sku} | {item.category} | {item.price_cents} | {margin * 100:.0f} | "
            f"{','.join(item.allergens) or '-'} | {'yes' if item.contains_alcohol else 'no'} | {item.name}"
        )
    return fence_untrusted("eligible_catalog", "\n".join(rows) or "(no eligible items)")


def _campaign_block(inp: DraftInput) -> str:
    """What a campaign decision is for (kind, trigger, item, channel: the merchant's rules chose them)."""
    brief = inp.campaign
    if brief is None:
        return "Campaign: none (this decision follows a sale)."
    facts = {"kind": brief.kind, "trigger": brief.trigger, "item_sku": brief.sku, "channel": brief.channel}
    return (
        "Campaign (proactive outreach; the merchant's rules chose this guest): "
        + json.dumps({k: v for k, v in facts.items() if v is not None})
        + "\nDraft this kind of offer (next_visit: the item named, before the guest's usual visit; win_back: an"
        " incentive to return; birthday: a birthday treat; tier: points towards a tier or a tier notice) on the"
        " channel named if any, or make_offer=false.\n"
        + fence_untrusted("campaign_reason", brief.reason)
    )


def render_user_message(inp: DraftInput) -> str:
    """The user turn for one decision. Free text from outside (profile document, staff notes, item
    names) is fenced as data; numbers and flags computed by our own code are plain JSON."""
    transaction = "\n".join(f"{line.sku} | {line.category} | {line.name}" for line in inp.transaction)
    complements = "\n".join(f"{c.sku} | {c.score:.2f} | {c.name}" for c in inp.complements)
    notes = (
        fence_untrusted("staff_notes", inp.staff_notes_pseudonymized)
        if inp.staff_notes_pseudonymized
        else "Staff notes: none."
    )
    return load_prompt("drafter_user").render(
        pseudonym=inp.pseudonym,
        now=inp.now.isoformat(),
        local_date=inp.local_date.isoformat(),
        limits_json=inp.limits.model_dump_json(),
        consents_json=inp.consents.model_dump_json(),
        history_json=inp.offer_history.model_dump_json(),
        features_json=inp.features.model_dump_json(exclude={"favourite_items"}),
        profile_block=fence_untrusted("profile_document", inp.profile_document or "(none)")
        + "\nFavourite items: "
        + fence_untrusted("favourite_items", json.dumps([f.model_dump() for f in inp.features.favourite_items])),
        transaction_block=fence_untrusted("transaction", transaction or "(none: campaign decision)"),
        campaign_block=_campaign_block(inp),
        catalog_block=_catalog_block(inp),
        complements_block=fence_untrusted("complements", complements or "(none)"),
        staff_notes_block=notes,
    )


def prompt_version() -> str:
    """The versions of every template the model sees, recorded with each model draft."""
    return "+".join(load_prompt(name).version for name in ("drafter_system", "drafter_user", "drafter_repair"))


# --------------------------------------------------------------------------- OpenAI drafter


def chat_model_from_settings(settings: Settings) -> BaseChatModel:
    """`ChatOpenAI` against LLM_BASE_URL (any OpenAI-compatible endpoint). Client retries are off:
    callers retry with tenacity, so attempts are counted and bounded in one place."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        api_key=SecretStr(settings.llm_api_key or "not-needed"),  # local endpoints often take no key
        timeout=settings.llm_timeout_s,
        max_retries=0,
        temperature=0.2,
        use_responses_api=False,
    )


class MalformedOutputError(ValueError):
    """The model's final answer cannot be turned into a usable OfferDraft."""

    def __init__(self, problems: list[str], raw: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.raw = raw


@dataclass
class ModelUsage:
    """Model calls and tokens of one decision or answer (server-reported usage)."""

    model_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0

    def add(self, message: AIMessage) -> None:
        usage: dict[str, Any] = dict(message.usage_metadata or {})
        self.tokens_in += int(usage.get("input_tokens", 0) or 0)
        self.tokens_out += int(usage.get("output_tokens", 0) or 0)


class OpenAIDrafter:
    """Drafts with a chat model through tool calling; see the module docstring for the loop."""

    def __init__(
        self,
        *,
        chat_model: BaseChatModel,
        model_name: str,
        fallback: Drafter | None = None,
        max_tool_rounds: int = 3,
        max_attempts: int = 3,
        retry_wait_max_s: float = 2.0,
    ) -> None:
        self.chat_model = chat_model
        self.model_name = model_name
        self.fallback: Drafter = fallback or OfflineDrafter()
        self.max_tool_rounds = max_tool_rounds
        self.max_attempts = max_attempts
        self.retry_wait_max_s = retry_wait_max_s

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> OpenAIDrafter:
        """A drafter on `ChatOpenAI` against LLM_BASE_URL (see `chat_model_from_settings`)."""
        return cls(chat_model=chat_model_from_settings(settings), model_name=settings.llm_model, **kwargs)

    def draft(self, inp: DraftInput, *, context: ReadToolContext | None = None) -> DraftResult:
        usage = ModelUsage()
        try:
            offer, repaired = self._run(inp, context or context_from_draft_input(inp), usage)
        except MalformedOutputError as exc:
            logger.warning("model output malformed after repair, using offline draft: %s", exc)
            return self._fallback(inp, usage, f"malformed_output: {exc}"[:300])
        except openai.OpenAIError as exc:
            logger.warning("model call failed, using offline draft: %r", exc)
            return self._fallback(inp, usage, f"model_error: {type(exc).__name__}")
        return DraftResult(
            offer=offer,
            model=self.model_name,
            prompt_version=prompt_version(),
            model_calls=usage.model_calls,
            tokens_in=usage.tokens_in,
            tokens_out=usage.tokens_out,
            repaired=repaired,
        )

    def _fallback(self, inp: DraftInput, usage: ModelUsage, reason: str) -> DraftResult:
        result = self.fallback.draft(inp)
        return result.model_copy(
            update={
                "fallback_reason": reason,
                "model_calls": result.model_calls + usage.model_calls,
                "tokens_in": result.tokens_in + usage.tokens_in,
                "tokens_out": result.tokens_out + usage.tokens_out,
            }
        )

    def _invoke(self, runnable: Any, messages: Sequence[BaseMessage], usage: ModelUsage) -> AIMessage:
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential_jitter(initial=0.2, max=self.retry_wait_max_s),
            retry=retry_if_exception_type(TRANSIENT_ERRORS),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                usage.model_calls += 1
                message = runnable.invoke(list(messages))
        if not isinstance(message, AIMessage):
            raise MalformedOutputError([f"expected an assistant message, got {type(message).__name__}"], "")
        usage.add(message)
        return message

    def _run(self, inp: DraftInput, ctx: ReadToolContext, usage: ModelUsage) -> tuple[OfferDraft, bool]:
        tools = build_read_tools(ctx)
        by_name: dict[str, BaseTool] = {tool.name: tool for tool in tools}
        submit = _submit_offer_tool()
        free_choice = self.chat_model.bind_tools([*tools, submit])
        must_submit = self.chat_model.bind_tools([*tools, submit], tool_choice=SUBMIT_TOOL_NAME)
        messages: list[BaseMessage] = [
            SystemMessage(load_prompt("drafter_system").text),
            HumanMessage(render_user_message(inp)),
        ]
        for round_number in range(self.max_tool_rounds + 1):
            runnable = must_submit if round_number == self.max_tool_rounds else free_choice
            message = self._invoke(runnable, messages, usage)
            try:
                offer = _parse_final_answer(message, inp)
            except MalformedOutputError as first_error:
                return self._repair(must_submit, messages, first_error, usage, inp)
            if offer is not None:
                return offer, False
            messages.append(message)
            messages.extend(run_tool_calls(message, by_name))
        raise MalformedOutputError(["the model never called submit_offer"], "")  # pragma: no cover

    def _repair(
        self,
        runnable: Any,
        messages: list[BaseMessage],
        error: MalformedOutputError,
        usage: ModelUsage,
        inp: DraftInput,
    ) -> tuple[OfferDraft, bool]:
        """One repair turn. The malformed assistant message is not replayed (its tool call may not
        even be valid JSON); its text goes back fenced, with the problems, in a user turn."""
        repair_text = load_prompt("drafter_repair").render(
            errors="\n".join(f"- {problem}" for problem in error.problems),
            previous_output=fence_untrusted("previous_output", error.raw[:4000] or "(empty)"),
        )
        message = self._invoke(runnable, [*messages, HumanMessage(repair_text)], usage)
        offer = _parse_final_answer(message, inp)
        if offer is None:
            raise MalformedOutputError(["repair answer did not call submit_offer"], _raw_text(message))
        return offer, True


def _raw_text(message: AIMessage) -> str:
    parts = [str(message.content)] if message.content else []
    for call in message.tool_calls:
        parts.append(f"{call['name']}({json.dumps(call['args'])})")
    for bad in message.invalid_tool_calls:
        parts.append(f"{bad.get('name')}({bad.get('args')})")
    return "\n".join(parts)


def _validate_offer(args: Any, raw: str, inp: DraftInput) -> OfferDraft:
    try:
        offer = OfferDraft.model_validate(args)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in err['loc']) or 'offer'}: {err['msg']}" for err in exc.errors()]
        raise MalformedOutputError(problems, raw) from exc
    problems = draft_problems(offer, inp)
    if problems:
        raise MalformedOutputError(problems, raw)
    return offer


def _parse_final_answer(message: AIMessage, inp: DraftInput) -> OfferDraft | None:
    """The OfferDraft of a final answer; None if the model only asked for read tools.

    Accepted final answers: a `submit_offer` tool call, or (for endpoints weak at tool calling) a
    plain JSON object in the content. Raises MalformedOutputError for anything else.
    """
    raw = _raw_text(message)
    for bad in message.invalid_tool_calls:
        if bad.get("name") == SUBMIT_TOOL_NAME:
            raise MalformedOutputError([f"submit_offer arguments are not valid JSON: {bad.get('error')}"], raw)
    for call in message.tool_calls:
        if call["name"] == SUBMIT_TOOL_NAME:
            return _validate_offer(call["args"], raw, inp)
    if message.tool_calls or message.invalid_tool_calls:
        return None
    text = str(message.content).strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        args = json.loads(text)
    except json.JSONDecodeError:
        raise MalformedOutputError(["no submit_offer call and the reply is not an offer JSON object"], raw) from None
    return _validate_offer(args, raw, inp)


def run_tool_calls(message: AIMessage, by_name: dict[str, BaseTool]) -> list[ToolMessage]:
    """Answer every tool call of the message (errors are answered too, so the conversation stays
    well-formed for the next request)."""
    replies: list[ToolMessage] = []
    for call in message.tool_calls:
        call_id = call.get("id") or ""
        tool = by_name.get(call["name"])
        if tool is None:
            content = f"error: unknown tool {call['name']!r}; available: {', '.join(sorted(by_name))}"
            replies.append(ToolMessage(content=content, tool_call_id=call_id, status="error"))
            continue
        try:
            content = str(tool.invoke(call["args"]))
        except Exception as exc:  # a bad argument must not end the decision; the model sees the error
            replies.append(ToolMessage(content=f"error: {exc}", tool_call_id=call_id, status="error"))
            continue
        replies.append(ToolMessage(content=content, tool_call_id=call_id))
    for bad in message.invalid_tool_calls:
        content = f"error: arguments are not valid JSON: {bad.get('error')}"
        replies.append(ToolMessage(content=content, tool_call_id=bad.get("id") or "", status="error"))
    return replies


# --------------------------------------------------------------------------- checkout budget


class BudgetedDrafter:
    """Answers within the checkout budget: the primary drafter's result if it is ready in time,
    otherwise (or if it raised) the fallback's draft with `fallback_reason` set.

    The primary runs on a small shared thread pool. A late primary is abandoned, not killed (Python
    cannot kill a thread); its HTTP client timeout bounds how long it lingers, and queued calls
    that never started are cancelled.
    """

    def __init__(
        self,
        *,
        primary: Drafter,
        fallback: Drafter,
        budget_s: float = 1.5,
        fallback_reserve_s: float = 0.05,
        max_workers: int = 4,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.budget_s = budget_s
        self.fallback_reserve_s = fallback_reserve_s
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="drafter")

    def draft(self, inp: DraftInput, *, context: ReadToolContext | None = None) -> DraftResult:
        future: Future[DraftResult] = self._pool.submit(self.primary.draft, inp, context=context)
        wait_s = max(0.0, self.budget_s - self.fallback_reserve_s)
        try:
            return future.result(timeout=wait_s)
        except FutureTimeoutError:
            future.cancel()
            reason = "budget_exceeded"
            logger.warning("drafter exceeded the %.2fs checkout budget, using fallback draft", self.budget_s)
        except Exception as exc:
            reason = f"primary_error: {type(exc).__name__}"
            logger.exception("primary drafter failed, using fallback draft")
        return self.fallback.draft(inp).model_copy(update={"fallback_reason": reason})

    def close(self) -> None:
        """Stop accepting work; pending calls are cancelled, running ones finish in the background."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def get_drafter(settings: Settings) -> Drafter:
    """The drafter for the configured provider: offline, or the model within the checkout budget
    with the offline drafter as fallback."""
    offline = OfflineDrafter()
    if settings.llm_provider == "offline":
        return offline
    primary = OpenAIDrafter.from_settings(settings, fallback=offline)
    return BudgetedDrafter(primary=primary, fallback=offline, budget_s=settings.decision_budget_s)
