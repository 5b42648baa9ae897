"""PostgreSQL connections the server closes while they sit idle in a pool (pg_terminate_backend, restart,
failover) are replaced when taken, with no round trip to find out, in both pools of a process: the
SQLAlchemy engine's and the LangGraph checkpointer's psycopg pool. The sustained form (connections killed
every second through a whole run) is tests/integration/test_faults.py."""

from __future__ import annotations

import time

import psycopg
import pytest
from psycopg_pool import ConnectionPool
from sqlalchemy import text
from sqlalchemy.engine import make_url

from agent.checkpointer import make_checkpointer
from db.engine import idle_connection_lost, make_engine

pytestmark = pytest.mark.postgres


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _terminate(url: str, pids: list[int]) -> None:
    """pg_terminate_backend these backends and wait until they are gone."""
    with psycopg.connect(_libpq_url(url), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,))
        deadline = time.monotonic() + 10
        while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)",
                            (pids,)).fetchone() != (0,):
            assert time.monotonic() < deadline, "backends did not go away"
            time.sleep(0.02)


def test_idle_connection_lost_sees_the_servers_goodbye(postgres_url: str) -> None:
    conn = psycopg.connect(_libpq_url(postgres_url), autocommit=True)
    conn.execute("SELECT 1")
    assert not idle_connection_lost(conn)
    _terminate(postgres_url, [conn.info.backend_pid])
    assert idle_connection_lost(conn)
    conn.close()
    assert idle_connection_lost(conn)


def test_engine_replaces_a_connection_killed_while_idle(postgres_url: str) -> None:
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as c:
            first = c.execute(text("SELECT pg_backend_pid()")).scalar_one()
        _terminate(postgres_url, [first])
        with engine.connect() as c:  # the same pooled slot, reconnected; no error reaches the caller
            second = c.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert second != first
    finally:
        engine.dispose()


def test_checkpointer_pool_replaces_killed_connections_within_its_timeout(postgres_url: str) -> None:
    """Three idle connections killed at once. psycopg_pool's own check retries once at once, then waits
    1 s before the next connection, so a timeout under 1 s ended in PoolTimeout; the live pool discards
    each lost connection and takes the next (or a new one) at once."""
    pool = make_checkpointer(postgres_url).conn  # type: ignore[attr-defined]
    assert isinstance(pool, ConnectionPool)
    for _ in range(2):
        held = [pool.getconn() for _ in range(3)]
        killed = [c.info.backend_pid for c in held]
        for c in held:
            pool.putconn(c)
        _terminate(postgres_url, killed)
        with pool.connection(timeout=0.9) as c:
            assert c.execute("SELECT pg_backend_pid()").fetchone()["pg_backend_pid"] not in killed
    pool.close()
