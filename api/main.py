"""The FastAPI application."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from agent.runner import make_offer_runner, shutdown_agents
from api.limits import install_input_limits
from api.routes import catalog, customers, events, health, offers, segments, webhooks
from core.settings import Settings, get_settings
from db.engine import get_engine, migrate
from guardrails.policy import load_policy
from loyalty_agent.sender import MessageSender
from loyalty_agent.worker import Worker

log = logging.getLogger(__name__)


def start_background_index(settings: Settings, engine: Any) -> threading.Thread:
    """Build profiles + vectors once if the store is empty, without holding up start-up: decisions
    made meanwhile simply have fewer similar guests to draw complements from."""
    from agent.indexing import reindex_all
    from agent.runner import get_agent

    def run() -> None:
        try:
            agent = get_agent(settings, engine)
            n = reindex_all(settings, only_if_empty=True, store=agent.ctx.vector_store, embedder=agent.ctx.embedder)
            if n:
                log.info("background index built: %d customer profiles", n)
        except Exception:
            log.exception("background indexing failed; run `loyalty-agent reindex`")

    thread = threading.Thread(target=run, name="initial-index", daemon=True)
    thread.start()
    return thread


def create_app(settings: Settings | None = None, *, run_migrations: bool = True, start_workers: int = 0) -> FastAPI:
    """The app. `start_workers` inbox workers run in this process (the embedded default uses 1)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        workers: list[Worker | MessageSender] = []
        if start_workers:
            runner = make_offer_runner(settings, app.state.engine)
            workers = [Worker(app.state.engine, settings, offer_runner=runner) for _ in range(start_workers)]
            workers.append(MessageSender(app.state.engine, settings))
            for w in workers:
                w.start_thread()
            if settings.index_on_start:
                start_background_index(settings, app.state.engine)
        try:
            yield
        finally:
            for w in workers:
                w.stop()
            for w in workers:
                w.join()
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

    for module in (health, webhooks, events, offers, customers, segments, catalog):
        app.include_router(module.router)
    return app
