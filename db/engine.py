"""Engine, sessions and migrations (Alembic, applied on start)."""

from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError
from sqlmodel import Session, create_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the API read while the worker writes; FKs are off by default in SQLite.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "checkout")
    def _replace_lost_connection(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        # Instead of pool_pre_ping (a round trip on every checkout, 14 per decision): a connection the
        # server closed while it was idle is replaced (the pool reconnects in its place). One killed while
        # checked out fails its statement, SQLAlchemy invalidates the pool, and the caller's retry runs.
        if idle_connection_lost(dbapi_conn):
            raise DisconnectionError("the server closed this connection while it was idle")

    return engine


def idle_connection_lost(dbapi_conn: Any) -> bool:
    """Whether the server closed this idle psycopg connection (pg_terminate_backend, restart, failover,
    idle_session_timeout), found without a round trip: an idle connection has nothing to read unless the
    server said goodbye (its FATAL message, then end of file). A NOTICE or NOTIFY between statements
    counts as lost too, which only costs a reconnect. A connection cut off silently (network) is not seen
    here; its first statement fails instead and takes the disconnect path."""
    try:
        fd = dbapi_conn.fileno()
    except Exception:  # closed on our side already
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    return make_engine(url)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error (nothing half-written)."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def core_connection(session: Session) -> Connection:
    """The session's connection, in its transaction, for a Core statement built once: on the decision path,
    building ORM statements and processing ORM rows cost more than the SQL. Pending ORM rows are flushed
    first, as the ORM's own autoflush would have done before a read."""
    if session.autoflush:
        session.flush()
    return session.connection()


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Bring the schema to head. Safe to call on every start."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")
