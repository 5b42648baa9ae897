"""The body-limit middleware and the JSON depth limit, driven directly (no server, no network)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any

import pytest

from api.limits import BodyLimitMiddleware
from core.events import MAX_JSON_DEPTH, PayloadError, json_depth, parse_json

LIMIT = 1000


class Echo:
    """An app that reads the whole body and answers with its length."""

    def __init__(self) -> None:
        self.called = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.called = True
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(len(body)).encode()})


def run(chunks: list[bytes], *, content_length: int | str | None = None, path: str = "/offers/o1/review",
        prefix_limits: dict[str, int] | None = None) -> tuple[int, bytes, int, bool]:
    """(status, response body, chunks the middleware pulled, whether the app ran)."""
    app = Echo()
    middleware = BodyLimitMiddleware(app, default_limit=LIMIT, prefix_limits=prefix_limits)
    headers = [] if content_length is None else [(b"content-length", str(content_length).encode())]
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    pulled = 0
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled >= len(chunks):
            return {"type": "http.disconnect"}
        pulled += 1
        return {"type": "http.request", "body": chunks[pulled - 1], "more_body": pulled < len(chunks)}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(middleware(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, pulled, app.called


def test_body_under_the_limit_reaches_the_app_intact() -> None:
    assert run([b"x" * 400, b"y" * 600], content_length=1000) == (200, b"1000", 2, True)
    assert run([b"x" * 400, b"y" * 600]) == (200, b"1000", 2, True)  # chunked: no Content-Length
    assert run([b""]) == (200, b"0", 1, True)


def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    status, body, pulled, called = run([b"x" * 10] * 5, content_length=30 * 1024 * 1024)
    assert (status, pulled, called) == (413, 0, False)
    assert "larger than 1000 bytes" in json.loads(body)["detail"]


def test_streamed_body_is_refused_as_soon_as_it_passes_the_limit() -> None:
    """No Content-Length (or a lying one): counted while streaming; the rest is never read."""
    chunks = [b"x" * 300] * 100  # 30,000 bytes offered
    status, _body, pulled, called = run(chunks)
    assert (status, pulled, called) == (413, 4, False)
    status, _body, pulled, called = run(chunks, content_length=500)  # declares less than it sends
    assert (status, pulled, called) == (413, 4, False)


@pytest.mark.parametrize("declared", ["-1", "1e3", " 10", "0x10", "1" * 19, "\u00b2"])
def test_invalid_content_length_is_400(declared: str) -> None:
    status, _body, pulled, called = run([b"{}"], content_length=declared)
    assert (status, pulled, called) == (400, 0, False)


def test_longest_prefix_picks_the_limit() -> None:
    limits = {"/webhooks/": 5000, "/webhooks/square": 200}
    assert run([b"x" * 3000], path="/webhooks/pos", prefix_limits=limits)[0] == 200
    assert run([b"x" * 3000], path="/webhooks/square", prefix_limits=limits)[0] == 413
    assert run([b"x" * 3000], path="/offers", prefix_limits=limits)[0] == 413


def test_non_http_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Any, _receive: Any, _send: Any) -> None:
        seen.append(scope["type"])

    async def nothing() -> dict[str, Any]:
        raise AssertionError("the middleware must not read a lifespan channel")

    async def drop(_message: Any) -> None:
        return None

    asyncio.run(BodyLimitMiddleware(app, default_limit=1)({"type": "lifespan"}, nothing, drop))
    assert seen == ["lifespan"]


def nested(depth: int) -> bytes:
    return ('{"a":' * depth + "1" + "}" * depth).encode()


def test_json_depth_limit() -> None:
    assert parse_json(nested(MAX_JSON_DEPTH)) is not None
    for depth in (MAX_JSON_DEPTH + 1, 999, 1_000, 100_000):
        with pytest.raises(PayloadError, match=f"deeper than {MAX_JSON_DEPTH}"):
            parse_json(nested(depth))
    with pytest.raises(PayloadError, match="deeper"):
        parse_json(b"[" * 200_000 + b"]" * 200_000)


def test_json_depth_counts_containers_without_recursing() -> None:
    assert json_depth(1) == 0
    assert json_depth([]) == 1
    assert json_depth({"a": [1, {"b": []}], "c": 2}) == 4
    deep: Any = 0
    for _ in range(50_000):  # far past the interpreter's recursion limit
        deep = [deep]
    assert json_depth(deep) == 50_000
    assert json_depth(deep, stop_after=10) == 11


def test_parse_json_keeps_its_old_reasons() -> None:
    with pytest.raises(PayloadError, match="not valid JSON"):
        parse_json(b"{not json")
    with pytest.raises(PayloadError, match="not valid JSON"):
        parse_json(b"\xff\xfe")
