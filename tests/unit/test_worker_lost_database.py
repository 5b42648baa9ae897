"""Which worker errors are the database going away (requeued with the attempt given back) and which are not."""

from __future__ import annotations

import psycopg
from sqlalchemy import exc as sa_exc

from loyalty_agent.worker import lost_database


def test_connection_errors_are_infrastructure() -> None:
    killed = psycopg.errors.AdminShutdown("terminating connection due to administrator command")
    assert lost_database(killed)
    assert lost_database(sa_exc.OperationalError("SELECT 1", {}, killed))
    try:
        try:
            raise killed
        except psycopg.Error as inner:
            raise RuntimeError("checkpoint write failed") from inner
    except RuntimeError as wrapped:
        assert lost_database(wrapped)


def test_other_errors_are_the_events() -> None:
    assert not lost_database(ValueError("bad total"))
    assert not lost_database(sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not lost_database(RuntimeError("model said no"))
