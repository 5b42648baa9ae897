"""The model answerer: any OpenAI-compatible chat model, for open questions, within a budget.

One request for most questions: the gathered facts are in the prompt (ids, quotes; untrusted text
fenced) and the model answers with a `submit_answer` tool call whose arguments are an
`AnswerSubmission` (answer, cited fact ids, abstain). It may first call the read-only tools of
`agent.ask.tools` (bound to this guest) for at most `max_tool_rounds` rounds; the last round forces
`submit_answer`. Transient API errors are retried (tenacity). Whatever it answers goes through the
verify node; this module only turns the model's reply into an `AnswerDraft`.

`answer` never raises: a late, failing or malformed model returns `(None, reason)` and the graph
uses the offline answer, as the offer graph does with its drafter.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import Any

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field, ValidationError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from agent.ask.schemas import AnswerDraft, Fact
from agent.ask.tools import AskToolData
from agent.llm import TRANSIENT_ERRORS, ModelUsage, chat_model_from_settings, run_tool_calls
from core.settings import Settings
from prompts import fence_untrusted, load_prompt

log = logging.getLogger(__name__)

SUBMIT_TOOL_NAME = "submit_answer"


class AnswerSubmission(BaseModel):
    """The model's final answer."""

    answer: str = Field(max_length=1500, description="The answer for the associate, plain text, 1-4 sentences.")
    citations: list[str] = Field(default_factory=list, description="Ids of the facts the answer rests on.")
    abstain: bool = Field(default=False, description="True when the facts do not answer the question.")


class MalformedAnswerError(ValueError):
    """The model's reply is not a usable AnswerSubmission."""


def submit_answer_tool() -> dict[str, Any]:
    spec = convert_to_openai_tool(AnswerSubmission)
    spec["function"]["name"] = SUBMIT_TOOL_NAME
    spec["function"]["description"] = "Submit the final answer exactly once, with the ids of the facts it cites."
    return spec


def render_question(question: str, intents: Sequence[str], facts: Sequence[Fact]) -> str:
    rows = "\n".join(f"{f.id} | {f.source} | {f.field} | {f.quote}" for f in facts)
    return load_prompt("ask_user").render(
        question_block=fence_untrusted("question", question),
        intents=", ".join(intents),
        facts_block=fence_untrusted("facts", rows or "(no facts)"),
    )


def prompt_version() -> str:
    return "+".join(load_prompt(name).version for name in ("ask_system", "ask_user"))


def parse_submission(message: AIMessage) -> AnswerSubmission | None:
    """The submission of a final reply; None when the model only called read tools."""
    for bad in message.invalid_tool_calls:
        if bad.get("name") == SUBMIT_TOOL_NAME:
            raise MalformedAnswerError(f"submit_answer arguments are not valid JSON: {bad.get('error')}")
    args: Any = None
    for call in message.tool_calls:
        if call["name"] == SUBMIT_TOOL_NAME:
            args = call["args"]
            break
    else:
        if message.tool_calls or message.invalid_tool_calls:
            return None
        text = str(message.content).strip().removeprefix("```json").removeprefix("```").removesuffix("```")
        try:
            args = json.loads(text)
        except json.JSONDecodeError:
            raise MalformedAnswerError("no submit_answer call and the reply is not an answer JSON object") from None
    try:
        return AnswerSubmission.model_validate(args)
    except ValidationError as exc:
        raise MalformedAnswerError(f"submit_answer arguments invalid: {exc.error_count()} errors") from exc


class ModelAnswerer:
    """Answers open questions with a chat model; see the module docstring."""

    def __init__(
        self,
        *,
        chat_model: BaseChatModel,
        model_name: str,
        budget_s: float = 2.0,
        max_tool_rounds: int = 2,
        max_attempts: int = 2,
        max_workers: int = 4,
    ) -> None:
        self.chat_model = chat_model
        self.model_name = model_name
        self.budget_s = budget_s
        self.max_tool_rounds = max_tool_rounds
        self.max_attempts = max_attempts
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ask-model")

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> ModelAnswerer:
        return cls(
            chat_model=chat_model_from_settings(settings),
            model_name=settings.llm_model,
            budget_s=settings.ask_budget_s,
            **kwargs,
        )

    def answer(
        self, *, question: str, intents: Sequence[str], facts: Sequence[Fact], tools: AskToolData
    ) -> tuple[AnswerDraft | None, str | None, ModelUsage]:
        """(the model's draft, None, usage), or (None, why not, usage so far) when it is late,
        failing or malformed."""
        usage = ModelUsage()
        future = self._pool.submit(self._run, question, intents, facts, tools, usage)
        try:
            return future.result(timeout=self.budget_s), None, usage
        except FutureTimeoutError:
            future.cancel()
            log.warning("ask model exceeded its %.2fs budget; answering offline", self.budget_s)
            reason = "budget_exceeded"
        except MalformedAnswerError as exc:
            reason = f"malformed_output: {exc}"[:300]
        except openai.OpenAIError as exc:
            log.warning("ask model call failed; answering offline: %r", exc)
            reason = f"model_error: {type(exc).__name__}"
        except Exception as exc:  # a bug in a tool must cost the model path, not the answer
            log.exception("ask model path failed; answering offline")
            reason = f"answerer_error: {type(exc).__name__}"
        return None, reason, usage

    def _invoke(self, runnable: Any, messages: list[BaseMessage], usage: ModelUsage) -> AIMessage:
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential_jitter(initial=0.1, max=0.5),
            retry=retry_if_exception_type(TRANSIENT_ERRORS),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                usage.model_calls += 1
                message = runnable.invoke(list(messages))
        if not isinstance(message, AIMessage):
            raise MalformedAnswerError(f"expected an assistant message, got {type(message).__name__}")
        usage.add(message)
        return message

    def _run(
        self, question: str, intents: Sequence[str], facts: Sequence[Fact], data: AskToolData, usage: ModelUsage
    ) -> AnswerDraft:
        tools: list[BaseTool] = data.tools()
        by_name = {tool.name: tool for tool in tools}
        submit = submit_answer_tool()
        free = self.chat_model.bind_tools([*tools, submit])
        forced = self.chat_model.bind_tools([*tools, submit], tool_choice=SUBMIT_TOOL_NAME)
        messages: list[BaseMessage] = [
            SystemMessage(load_prompt("ask_system").text),
            HumanMessage(render_question(question, intents, facts)),
        ]
        for round_number in range(self.max_tool_rounds + 1):
            message = self._invoke(forced if round_number == self.max_tool_rounds else free, messages, usage)
            submission = parse_submission(message)
            if submission is not None:
                return AnswerDraft(
                    answer=submission.answer.strip(),
                    cited_ids=list(dict.fromkeys(submission.citations)),
                    abstained=submission.abstain,
                    model=self.model_name,
                    prompt_version=prompt_version(),
                    model_calls=usage.model_calls,
                    tokens_in=usage.tokens_in,
                    tokens_out=usage.tokens_out,
                    extra_facts=list(data.collected),
                )
            messages.append(message)
            messages.extend(run_tool_calls(message, by_name))
        raise MalformedAnswerError("the model never called submit_answer")  # pragma: no cover

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
