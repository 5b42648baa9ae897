"""Shared fixtures: a fresh database per test on SQLite, and on PostgreSQL when one is reachable.

PostgreSQL: set TEST_DATABASE_URL (CI does); each fixture use gets its own throwaway database,
so parallel runs never see each other's rows. Without it (or unreachable), those cases skip.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from db.engine import make_engine, migrate

PG_URL = os.environ.get("TEST_DATABASE_URL", "")


def _pg_reachable() -> str | None:
    if not PG_URL:
        return "TEST_DATABASE_URL not set"
    try:
        eng = create_engine(PG_URL)
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
    except Exception as exc:
        return f"PostgreSQL unreachable at TEST_DATABASE_URL: {type(exc).__name__}"
    return None


PG_SKIP_REASON = _pg_reachable()


def _fresh_postgres_url() -> Generator[str, None, None]:
    base = make_url(PG_URL)
    name = f"la_test_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database URL: SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        migrate(url)
        yield url
        return
    if PG_SKIP_REASON:
        pytest.skip(PG_SKIP_REASON)
    gen = _fresh_postgres_url()
    url = next(gen)
    migrate(url)
    yield url
    gen.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A migrated, empty PostgreSQL database (skips where none is reachable)."""
    if PG_SKIP_REASON:
        pytest.skip(PG_SKIP_REASON)
    gen = _fresh_postgres_url()
    url = next(gen)
    migrate(url)
    yield url
    gen.close()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()
