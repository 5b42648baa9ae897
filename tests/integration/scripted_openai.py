"""A scripted OpenAI-compatible Chat Completions server on loopback, for tests and benchmarks.

It speaks the real wire format (`POST /v1/chat/completions`, JSON or SSE streaming, `tool_calls`,
`usage`, OpenAI-style error bodies), so the real `openai` / `langchain-openai` clients run their
full request/response path against it. Replies come from a script (a queue of `ScriptedReply`)
or, once the script is empty, from a `responder(request_body) -> ScriptedReply` callable, which is
what a benchmark uses to answer any number of requests.

    with ScriptedOpenAIServer([tool_calls_reply(tool_call("lookup_catalog", {"sku": "X"})),
                               tool_calls_reply(tool_call("submit_offer", {...}))]) as server:
        settings = Settings(llm_provider="openai", llm_base_url=server.base_url, ...)

Every request body and every served reply is recorded (`server.requests`, `server.served`) so a
test can check what the client sent and compare token counts with the usage it was given.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

_ids = itertools.count(1)


@dataclass
class ScriptedReply:
    """One assistant reply (or an HTTP error) with an optional delay before it is sent."""

    message: dict[str, Any] = field(default_factory=lambda: {"role": "assistant", "content": ""})
    finish_reason: str = "stop"
    delay_s: float = 0.0
    status_code: int = 200
    error_message: str = ""
    usage: tuple[int, int] | None = None  # (prompt_tokens, completion_tokens); None = estimated


Responder = Callable[[dict[str, Any]], ScriptedReply]


def tool_call(name: str, arguments: dict[str, Any] | str, *, call_id: str | None = None) -> dict[str, Any]:
    """A wire-format tool call; pass a string to send arguments that are not valid JSON."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {
        "id": call_id or f"call_{next(_ids)}",
        "type": "function",
        "function": {"name": name, "arguments": raw},
    }


def tool_calls_reply(*calls: dict[str, Any], content: str | None = None, **kwargs: Any) -> ScriptedReply:
    message = {"role": "assistant", "content": content, "tool_calls": list(calls)}
    return ScriptedReply(message=message, finish_reason="tool_calls", **kwargs)


def text_reply(content: str, **kwargs: Any) -> ScriptedReply:
    return ScriptedReply(message={"role": "assistant", "content": content}, **kwargs)


def error_reply(status_code: int, message: str = "scripted error", **kwargs: Any) -> ScriptedReply:
    """429 -> RateLimitError, 5xx -> InternalServerError, 401 -> AuthenticationError in the client."""
    return ScriptedReply(status_code=status_code, error_message=message, **kwargs)


def tool_then_submit(read_call: tuple[str, dict[str, Any]] | None, final_call: tuple[str, dict[str, Any]]) -> Responder:
    """A responder for any number of decisions: the first request of a conversation (no tool
    results yet) gets the read tool call, a request that carries tool results gets the final call."""

    def respond(body: dict[str, Any]) -> ScriptedReply:
        has_tool_results = any(message.get("role") == "tool" for message in body.get("messages", []))
        if read_call is not None and not has_tool_results:
            return tool_calls_reply(tool_call(*read_call))
        return tool_calls_reply(tool_call(*final_call))

    return respond


def estimate_tokens(payload: Any) -> int:
    """A deterministic stand-in for a tokenizer: about four characters per token."""
    return max(1, len(json.dumps(payload, default=str)) // 4)


class ScriptedOpenAIServer:
    """uvicorn serving the scripted endpoint in a background thread on 127.0.0.1, random port."""

    def __init__(
        self,
        script: Iterable[ScriptedReply] = (),
        *,
        responder: Responder | None = None,
        model: str = "scripted-model",
    ) -> None:
        self.model = model
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self.served: list[dict[str, Any]] = []
        self._script: deque[ScriptedReply] = deque(script)
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.app = self._build_app()

    # -- script ----------------------------------------------------------------------------------

    def push(self, *replies: ScriptedReply) -> None:
        with self._lock:
            self._script.extend(replies)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._script)

    def _next_reply(self, body: dict[str, Any]) -> ScriptedReply:
        with self._lock:
            self.requests.append(body)
            if self._script:
                return self._script.popleft()
        if self.responder is not None:
            return self.responder(body)
        return error_reply(500, "scripted server: script exhausted")

    def usage_totals(self) -> tuple[int, int]:
        """Sum of (prompt_tokens, completion_tokens) over every successful reply served."""
        prompt = sum(reply["usage"]["prompt_tokens"] for reply in self.served if "usage" in reply)
        completion = sum(reply["usage"]["completion_tokens"] for reply in self.served if "usage" in reply)
        return prompt, completion

    # -- HTTP ------------------------------------------------------------------------------------

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="scripted-openai")

        @app.get("/v1/models")
        async def list_models() -> dict[str, Any]:
            return {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "scripted"}]}

        @app.post("/v1/chat/completions")
        async def chat_completions(request: Request) -> Response:
            body = await request.json()
            reply = self._next_reply(body)
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            if reply.status_code != 200:
                error_type = "rate_limit_exceeded" if reply.status_code == 429 else "server_error"
                payload = {"error": {"message": reply.error_message, "type": error_type, "param": None,
                                     "code": error_type}}
                return JSONResponse(payload, status_code=reply.status_code)
            completion = self._completion(body, reply)
            self.served.append(completion)
            if body.get("stream"):
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                return StreamingResponse(self._sse(completion, include_usage), media_type="text/event-stream")
            return JSONResponse(completion)

        return app

    def _completion(self, body: dict[str, Any], reply: ScriptedReply) -> dict[str, Any]:
        message = {"role": "assistant", "content": None, "refusal": None, **reply.message}
        if reply.usage is not None:
            prompt_tokens, completion_tokens = reply.usage
        else:
            prompt_tokens = estimate_tokens(body.get("messages", []))
            completion_tokens = estimate_tokens(message)
        return {
            "id": f"chatcmpl-scripted-{next(_ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "system_fingerprint": "fp_scripted",
            "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason, "logprobs": None}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    @staticmethod
    async def _sse(completion: dict[str, Any], include_usage: bool) -> AsyncIterator[bytes]:
        """The same completion as `chat.completion.chunk` events: one content/tool-call delta, one
        finish chunk, an optional usage chunk, then `[DONE]`."""
        base = {key: completion[key] for key in ("id", "created", "model", "system_fingerprint")}
        base["object"] = "chat.completion.chunk"
        message = completion["choices"][0]["message"]
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
        if message.get("tool_calls"):
            delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
        chunks = [
            {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None, "logprobs": None}]},
            {**base, "choices": [{"index": 0, "delta": {},
                                  "finish_reason": completion["choices"][0]["finish_reason"], "logprobs": None}]},
        ]
        if include_usage:
            chunks.append({**base, "choices": [], "usage": completion["usage"]})
        for chunk in chunks:
            yield f"data: {json.dumps(chunk)}\n\n".encode()
        yield b"data: [DONE]\n\n"

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ScriptedOpenAIServer:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="scripted-openai", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("scripted OpenAI server did not start")
            time.sleep(0.01)
        self.port = int(self._server.servers[0].sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
