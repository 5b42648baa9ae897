"""The durable LangGraph checkpointer: SQLite saver on the embedded default, Postgres saver at scale."""

from __future__ import annotations

import sqlite3
from functools import lru_cache
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from sqlalchemy.engine import make_url


def _sqlite_checkpoint_path(database_url: str, data_dir: Path) -> Path:
    url = make_url(database_url)
    if url.database and url.database != ":memory:":
        db_path = Path(url.database)
        return db_path.with_name(db_path.stem + ".checkpoints.db")
    return data_dir / "checkpoints.db"


@lru_cache(maxsize=8)
def make_checkpointer(database_url: str, data_dir: str = "./data") -> BaseCheckpointSaver[str]:
    """One saver per database per process (they are thread-safe and hold connections)."""
    if database_url.startswith("postgresql"):
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=8,
            open=True,
            # A pooled connection killed while idle (restart, failover, pg_terminate_backend) is replaced
            # when taken, instead of failing the decision that drew it; the database engine's pool_pre_ping
            # does the same for the rest of the process.
            check=ConnectionPool.check_connection,
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
