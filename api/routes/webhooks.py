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
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, SettingsDep
from api.signatures import SignatureError, verify_pos, verify_square
from core.events import PayloadError, SaleCompleted, SaleProblem, SquareEvent, parse_generic, parse_json, sale_refusal
from core.settings import Settings
from db.inbox import enqueue_event_alone
from db.ingest import LocationMerchant, location_merchant
from db.types import utcnow

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


def _refusal_detail(problems: list[SaleProblem]) -> list[dict[str, Any]]:
    return [{"loc": list(p.loc), "msg": p.msg, "type": "sale_refused"} for p in problems]


_LOCATION_TTL_S = 60.0
_locations: dict[tuple[str, str], tuple[LocationMerchant, float]] = {}


def _where(engine: Any, location_id: str) -> LocationMerchant:
    """Location -> merchant and currency, cached for a minute (they change rarely; unknown ones are not
    cached, so a new location works at once). 422 for an unknown location."""
    key = (str(engine.url), location_id)
    hit = _locations.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[1] < _LOCATION_TTL_S:
        return hit[0]
    with Session(engine) as session:
        where = location_merchant(session, location_id=location_id)
    if where is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown location_id {location_id!r}")
    _locations[key] = (where, now)
    return where


def _accept(engine: Any, settings: Settings, *, provider: str, provider_event_id: str, event_type: str,
            payload: dict[str, Any], sale: SaleCompleted | None) -> JSONResponse:
    """Check a sale against its merchant (422, nothing stored), then store the event once in the inbox."""
    try:
        merchant_id = settings.default_merchant_id
        if sale is not None:
            where = _where(engine, sale.data.location_id)
            problems = sale_refusal(sale, currency=where.currency, now=utcnow(), checks=settings.sale_checks)
            if problems:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, _refusal_detail(problems))
            merchant_id = where.merchant_id
        lock = _sqlite_write_lock if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        with lock:
            result = enqueue_event_alone(engine, provider=provider, provider_event_id=provider_event_id,
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
    return await run_in_threadpool(
        _accept, engine, settings, provider="pos", provider_event_id=event.event_id, event_type=event.event,
        payload=payload, sale=event if isinstance(event, SaleCompleted) else None,
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
        _accept, engine, settings, provider="square", provider_event_id=event.event_id, event_type=event.type,
        payload=payload, sale=None,  # a Square sale is fetched and checked by the worker (db.ingest.record_sale)
    )
