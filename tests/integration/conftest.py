"""A real uvicorn server on loopback, serving the app against a fresh database."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from core.settings import Settings
from db.crud import create_api_key
from db.engine import session_scope
from db.tables import Location, Merchant


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """uvicorn in a background thread; stops cleanly."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def make_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir, "database_url": database_url, "pos_webhook_secret": "test-secret",
        "pseudonym_secret": "test-pseudonyms", "worker_poll_interval_s": 0.05, "worker_backoff_base_s": 0.05,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def add_minimal_merchant(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add(Merchant(id="m_sandbox", name="Test Bistro"))
        session.flush()
        session.add(Location(id="loc_1", merchant_id="m_sandbox", name="Main", timezone="America/New_York"))


@dataclass
class Live:
    url: str
    settings: Settings
    engine: Engine
    manager_key: str
    associate_key: str

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


@pytest.fixture
def live(database_url: str, engine: Engine, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Live]:
    """API + one in-process worker (no offer graph unless the test asks via the `with_graph` marker)."""
    from api.main import create_app
    from loyalty_agent.services import in_process

    settings = make_settings(database_url, tmp_path)
    add_minimal_merchant(engine)
    with session_scope(engine) as session:
        _, manager = create_api_key(session, role="manager")
        _, associate = create_api_key(session, role="associate")
    app = create_app(settings, background=in_process(workers=1))
    with ServerThread(app) as server:
        yield Live(server.url, settings, app.state.engine, manager, associate)
