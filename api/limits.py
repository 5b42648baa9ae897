"""Input limits for every route: request body size, and numbers too large for the database.

The body limit is an ASGI middleware, so it covers every endpoint (JSON, forms, webhooks) whether
or not the route reads its body itself. A declared `Content-Length` over the limit is refused before
a byte of the body is read (and before uvicorn answers `Expect: 100-continue`); a body without one
(chunked) is counted as it streams and refused as soon as it passes the limit. Either way the
app never sees an over-limit body and memory per request stays under the limit.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import Settings

log = logging.getLogger(__name__)

_CONTENT_LENGTH = re.compile(rb"[0-9]{1,18}")


class BodyLimitMiddleware:
    """Refuse (413) request bodies over a byte limit; the longest matching path prefix picks the limit."""

    def __init__(self, app: ASGIApp, *, default_limit: int, prefix_limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.default_limit = default_limit
        self.prefix_limits = sorted((prefix_limits or {}).items(), key=lambda kv: len(kv[0]), reverse=True)

    def limit_for(self, path: str) -> int:
        return next((limit for prefix, limit in self.prefix_limits if path.startswith(prefix)), self.default_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None:
            if not _CONTENT_LENGTH.fullmatch(declared):
                await _refuse(scope, send, status.HTTP_400_BAD_REQUEST, "invalid Content-Length")
                return
            if int(declared) > limit:
                await _refuse(scope, send, status.HTTP_413_CONTENT_TOO_LARGE, f"request body larger than {limit} bytes")
                return
        # Read the body here, counting as it streams (a declared length can be absent or wrong),
        # then hand the app exactly what was read.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # client went away: let the app see that
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _refuse(scope, send, status.HTTP_413_CONTENT_TOO_LARGE, f"request body larger than {limit} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that yields `messages` first, then defers to the server (disconnect notices)."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


async def _refuse(scope: Scope, send: Send, code: int, reason: str) -> None:
    # `Connection: close`: the rest of the body is never read, so the connection cannot be reused.
    response = JSONResponse({"detail": reason}, status_code=code, headers={"connection": "close"})

    async def no_body() -> Message:
        return {"type": "http.disconnect"}

    await response(scope, no_body, send)


# SQLSTATE 22003 numeric_value_out_of_range (psycopg: `sqlstate`, psycopg2: `pgcode`).
_NUMERIC_OUT_OF_RANGE = "22003"


def _is_out_of_range(exc: Exception) -> bool:
    if isinstance(exc, OverflowError):  # SQLite's driver: "Python int too large to convert to SQLite INTEGER"
        return True
    orig = getattr(exc, "orig", None)
    return _NUMERIC_OUT_OF_RANGE in (getattr(orig, "sqlstate", None), getattr(orig, "pgcode", None))


async def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
    """A number too large for its column, answered 422 instead of 500.

    Every route bounds its numbers in its types; this is the net under them for a bound someone forgot.
    Any other database data error is a bug, not bad input, and stays a 500.
    """
    if not _is_out_of_range(exc):
        raise exc
    log.warning("out-of-range number on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return JSONResponse({"detail": "a number in the request is out of range"},
                        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def install_input_limits(app: FastAPI, settings: Settings) -> None:
    """Body limits on every route (webhooks keep their own) and the out-of-range handlers."""
    app.add_middleware(BodyLimitMiddleware, default_limit=settings.api_max_body_bytes,
                       prefix_limits={"/webhooks/": settings.webhook_max_body_bytes})
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(DataError, _out_of_range)
