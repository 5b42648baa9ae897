"""POS webhooks: authenticate the raw body, validate, store once in the inbox, answer fast."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, SettingsDep
from api.signatures import SignatureError, verify_pos, verify_square
from core.events import PayloadError, SaleCompleted, SquareEvent, parse_generic, parse_json
from db.engine import session_scope
from db.inbox import enqueue_event
from db.ingest import get_location

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


def _json_or_400(body: bytes) -> Any:
    try:
        return parse_json(body)
    except PayloadError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc


def _validation_detail(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]


# SQLite has one writer at a time and its busy handler backs off by sleeping (up to 100 ms a try),
# which shows up as tail latency under concurrent webhooks; queueing writers in-process is fairer and
# faster. PostgreSQL takes concurrent inserts as they come.
_sqlite_write_lock = threading.Lock()


def _store(engine: Any, *, provider: str, provider_event_id: str, event_type: str, payload: dict[str, Any],
           location_id: str | None, default_merchant: str | None) -> JSONResponse:
    lock = _sqlite_write_lock if engine.dialect.name == "sqlite" else contextlib.nullcontext()
    with lock:
        return _store_locked(engine, provider=provider, provider_event_id=provider_event_id, event_type=event_type,
                             payload=payload, location_id=location_id, default_merchant=default_merchant)


_LOCATION_TTL_S = 60.0
_location_merchants: dict[tuple[str, str], tuple[str, float]] = {}


def _merchant_of_location(session: Any, location_id: str) -> str | None:
    """Location -> merchant, cached for a minute (locations change rarely; unknown ones are not cached)."""
    key = (str(session.get_bind().url), location_id)
    hit = _location_merchants.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[1] < _LOCATION_TTL_S:
        return hit[0]
    location = get_location(session, location_id=location_id)
    if location is None:
        return None
    _location_merchants[key] = (location.merchant_id, now)
    return location.merchant_id


def _store_locked(engine: Any, *, provider: str, provider_event_id: str, event_type: str, payload: dict[str, Any],
                  location_id: str | None, default_merchant: str | None) -> JSONResponse:
    try:
        with session_scope(engine) as session:
            merchant_id = default_merchant
            if location_id is not None:
                merchant_id = _merchant_of_location(session, location_id)
                if merchant_id is None:
                    raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                        f"unknown location_id {location_id!r}")
            result = enqueue_event(session, provider=provider, provider_event_id=provider_event_id,
                                   event_type=event_type, payload=payload, merchant_id=merchant_id)
    except OperationalError as exc:  # database locked/unreachable: tell the POS to retry later
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "inbox temporarily unavailable") from exc
    if result.duplicate:
        return JSONResponse({"event_id": result.event_id, "status": "duplicate"}, status_code=200)
    return JSONResponse({"event_id": result.event_id, "status": "queued"}, status_code=202)


@router.post("/pos", status_code=202, responses={200: {"description": "duplicate"}, 401: {}, 413: {}, 422: {}})
async def pos_webhook(request: Request, settings: SettingsDep, engine: EngineDep) -> JSONResponse:
    """Generic `sale.completed` / `customer.updated` events signed with `X-Signature: t=..,v1=..`."""
    body = await request.body()  # at most settings.webhook_max_body_bytes (api.limits)
    try:
        verify_pos(request.app.state.pos_secret, body, request.headers.get("x-signature"),
                   tolerance_s=settings.webhook_tolerance_s)
    except SignatureError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from exc
    payload = _json_or_400(body)
    try:
        event = parse_generic(payload)
    except ValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, _validation_detail(exc)) from exc
    location_id = event.data.location_id if isinstance(event, SaleCompleted) else None
    return await run_in_threadpool(
        _store, engine, provider="pos", provider_event_id=event.event_id, event_type=event.event,
        payload=payload, location_id=location_id,
        default_merchant=None if location_id else settings.default_merchant_id,
    )


@router.post("/square", status_code=202, responses={200: {"description": "duplicate"}, 401: {}, 413: {}})
async def square_webhook(request: Request, settings: SettingsDep, engine: EngineDep) -> JSONResponse:
    """Square's scheme: `x-square-hmacsha256-signature` over notification URL + raw body."""
    if not settings.square_webhook_signature_key or not settings.square_webhook_url:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Square webhooks are not configured")
    body = await request.body()  # at most settings.webhook_max_body_bytes (api.limits)
    try:
        verify_square(settings.square_webhook_signature_key, settings.square_webhook_url, body,
                      request.headers.get("x-square-hmacsha256-signature"))
    except SignatureError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from exc
    payload = _json_or_400(body)
    try:
        event = SquareEvent.model_validate(payload)
    except ValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, _validation_detail(exc)) from exc
    return await run_in_threadpool(
        _store, engine, provider="square", provider_event_id=event.event_id, event_type=event.type,
        payload=payload, location_id=None, default_merchant=settings.default_merchant_id,
    )
