"""`seed_database`: the sandbox restaurant into the configured database, once (`loyalty-agent seed`).

The generator lives beside this entry point: `sandbox.personas` (who), `sandbox.visits` (when and
where), `sandbox.baskets` (what), `sandbox.contacts` (contact PII), `sandbox.history` (a guest's whole
history, `generate_sandbox`), `sandbox.writer` (bulk rows) and `sandbox.replay` (live sales).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from db.tables import Merchant
from sandbox.restaurant import DEFAULT_END, MERCHANT_ID, history_window
from sandbox.writer import count_rows, enlarge_sqlite_cache, restore_sqlite_cache, table_of, write_sandbox


@dataclass(frozen=True, slots=True)
class SeedResult:
    created: bool
    counts: dict[str, int]


def seed_database(
    engine: Engine, *, customers: int = 2000, months: int = 12, seed: int = 42, end: date = DEFAULT_END
) -> SeedResult:
    """Write the sandbox restaurant into an existing schema, in one transaction.

    Idempotent: if merchant `m_sandbox` exists nothing is written and `created=False`
    comes back with the current counts. A concurrent seeder that loses the race on the
    merchant row rolls back entirely (nothing half-written) and also reports `created=False`.
    """
    start, end = history_window(months, end)
    with engine.connect() as conn:
        exists = conn.execute(select(table_of(Merchant).c.id).where(table_of(Merchant).c.id == MERCHANT_ID)).first()
        if exists is not None:
            return SeedResult(created=False, counts=count_rows(conn, MERCHANT_ID))

    try:
        with engine.connect() as conn:
            previous_cache = enlarge_sqlite_cache(conn)
            try:
                with conn.begin():
                    counts = write_sandbox(conn, customers=customers, months=months, seed=seed, start=start, end=end)
            finally:
                restore_sqlite_cache(conn, previous_cache)
    except IntegrityError:
        with engine.connect() as conn:
            if conn.execute(select(table_of(Merchant).c.id).where(table_of(Merchant).c.id == MERCHANT_ID)).first():
                return SeedResult(created=False, counts=count_rows(conn, MERCHANT_ID))
        raise
    return SeedResult(created=True, counts=counts)
