"""The FastAPI application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

from agent.runner import shutdown_agents
from api.limits import install_input_limits
from api.routes import ask, campaigns, catalog, customers, events, health, offers, segments, threads, ui, webhooks
from core.settings import Settings, get_settings
from db.engine import get_engine, migrate
from guardrails.policy import load_policy

log = logging.getLogger(__name__)


BackgroundServices = Callable[[Settings, Engine], Callable[[], None]]
"""Starts a process's background services (inbox workers, message sender...) and returns their stop.
The CLI passes one in (loyalty_agent.services.in_process); the API never imports the roof."""


def create_app(
    settings: Settings | None = None, *, run_migrations: bool = True, background: BackgroundServices | None = None
) -> FastAPI:
    """The app. `background` starts with it and stops with it (serve: the in-process worker + sender)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = background(settings, app.state.engine) if background is not None else None
        try:
            yield
        finally:
            if stop is not None:
                stop()
            shutdown_agents()

    load_policy(settings.policy_file)  # a bad policy stops start-up with a message naming the field
    app = FastAPI(title="loyalty-agent", version="0.1.0", lifespan=lifespan)
    install_input_limits(app, settings)
    if run_migrations:
        migrate(settings.database_url)
    app.state.settings = settings
    app.state.engine = get_engine(settings.database_url)
    app.state.pos_secret = settings.resolved_pos_webhook_secret()

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    for module in (health, webhooks, events, offers, customers, ask, segments, catalog, threads, campaigns):
        app.include_router(module.router)
    ui.register(app)
    if settings.cors_origins:  # e.g. a self-hosted Agent Inbox calling /threads from the browser
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["authorization", "x-api-key", "content-type"])
    return app
