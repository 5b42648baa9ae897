"""A worker whose connection dies while it records one event's outcome goes on with the rest of its batch
(they would otherwise wait out their leases); the event whose outcome was lost comes back with its lease."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from db.engine import session_scope
from db.inbox import enqueue_event
from db.tables import InboxEvent
from loyalty_agent import worker as worker_module
from tests.integration.conftest import make_settings


def test_lost_connection_while_recording_one_outcome_spares_the_batch(
        engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with session_scope(engine) as s:
        ids = [enqueue_event(s, provider="pos", provider_event_id=f"bad{i}", event_type="sale.completed",
                             payload={"event": "sale.completed"}).event_id for i in range(2)]
    record_failure = worker_module.fail_event
    calls: list[str] = []

    def connection_dies_once(engine: Engine, **kwargs: Any) -> str:
        calls.append(kwargs["event_id"])
        if len(calls) == 1:
            raise OperationalError("UPDATE inbox_event", {}, psycopg.OperationalError("server closed the connection"))
        return record_failure(engine, **kwargs)

    monkeypatch.setattr(worker_module, "fail_event", connection_dies_once)
    assert worker_module.Worker(engine, make_settings(database_url, tmp_path), worker_id="w").run_once() == 2
    with Session(engine) as s:
        statuses = {i: s.get(InboxEvent, i).status for i in ids}  # type: ignore[union-attr]
    assert calls == ids
    assert statuses == {ids[0]: "processing", ids[1]: "failed"}  # the first waits for its lease
