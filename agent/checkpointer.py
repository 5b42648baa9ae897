"""The durable LangGraph checkpointer: SQLite saver on the embedded default, Postgres saver at scale."""

from __future__ import annotations

import sqlite3
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from sqlalchemy.engine import make_url

from db.engine import idle_connection_lost


def _sqlite_checkpoint_path(database_url: str, data_dir: Path) -> Path:
    url = make_url(database_url)
    if url.database and url.database != ":memory:":
        db_path = Path(url.database)
        return db_path.with_name(db_path.stem + ".checkpoints.db")
    return data_dir / "checkpoints.db"


def _live_connection_pool(conninfo: str, **kwargs: Any) -> Any:
    """A psycopg pool that hands out only connections the server has not closed while they sat idle.

    psycopg_pool's own `check=` backs off 1, 2, 4, 8, 16 s between failed checks (psycopg#711). While
    connections keep being killed (the sustained pg_terminate_backend fault), the replacement sits idle
    through that back-off, is killed too, and the decision ends in PoolTimeout after 30 s, again and again.
    Here a lost connection is closed and returned (the pool opens another, handed to the next waiter) and
    the next one is taken at once, within the pool's timeout; the check costs no round trip."""
    from psycopg import Connection
    from psycopg_pool import ConnectionPool

    class LiveConnectionPool(ConnectionPool[Connection[Any]]):
        def getconn(self, timeout: float | None = None) -> Connection[Any]:
            deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
            while True:
                conn = super().getconn(timeout=max(deadline - time.monotonic(), 0.0))
                if not idle_connection_lost(conn):
                    return conn
                conn.close()  # closed, so the pool discards it rather than shelving it again
                self.putconn(conn)

    return LiveConnectionPool(conninfo, **kwargs)


@lru_cache(maxsize=8)
def make_checkpointer(database_url: str, data_dir: str = "./data") -> BaseCheckpointSaver[str]:
    """One saver per database per process (they are thread-safe and hold connections)."""
    if database_url.startswith("postgresql"):
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row

        conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        pool = _live_connection_pool(
            conninfo,
            min_size=1,
            max_size=8,
            open=True,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        )
        pg_saver = PostgresSaver(pool)  # type: ignore[arg-type]
        pg_saver.setup()
        return pg_saver
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = _sqlite_checkpoint_path(database_url, Path(data_dir))
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    # As the main database (db.engine): WAL + NORMAL survives a killed process (what the exactly-once proof
    # needs); only an OS crash can lose the last commits. FULL would fsync every checkpoint, the largest
    # single cost of a decision (benchmarks/decision.py).
    conn.execute("PRAGMA synchronous=NORMAL")
    saver = SqliteSaver(conn)
    saver.setup()
    return saver
