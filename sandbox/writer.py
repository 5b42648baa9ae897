"""The bulk writer: the sandbox's rows into an existing schema, fast and in bounded memory.

Customers stream in chunks and go in with executemany (no ORM objects, primary keys reserved up front),
so 100k customers stay in bounded memory and take seconds, not minutes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Connection

from db.tables import (
    CatalogItem,
    Customer,
    CustomerContact,
    Location,
    LoyaltyLedger,
    Merchant,
    PosTransaction,
    TransactionLine,
)
from sandbox.history import customer_bundle, iter_walk_ins
from sandbox.menu import MENU
from sandbox.restaurant import (
    CURRENCY,
    MERCHANT_ID,
    MERCHANT_NAME,
    SANDBOX_LOCATIONS,
    SandboxCustomer,
    SandboxTransaction,
)

_CHUNK_CUSTOMERS = 2000
# Module switch so a test can seed through plain Core executemany and compare stored rows.
_FAST_SQLITE_INSERTS = True


def table_of(model: type[Any]) -> Any:
    return model.__table__


def count_rows(conn: Connection, merchant_id: str) -> dict[str, int]:
    txn = table_of(PosTransaction)
    cust = table_of(Customer)

    def scalar(stmt: Any) -> int:
        return int(conn.execute(stmt).scalar_one())

    return {
        "merchant": scalar(
            select(func.count()).select_from(table_of(Merchant)).where(table_of(Merchant).c.id == merchant_id)
        ),
        "location": scalar(
            select(func.count()).select_from(table_of(Location)).where(table_of(Location).c.merchant_id == merchant_id)
        ),
        "catalog_item": scalar(
            select(func.count())
            .select_from(table_of(CatalogItem))
            .where(table_of(CatalogItem).c.merchant_id == merchant_id)
        ),
        "customer": scalar(select(func.count()).select_from(cust).where(cust.c.merchant_id == merchant_id)),
        "customer_contact": scalar(
            select(func.count())
            .select_from(table_of(CustomerContact).join(cust, table_of(CustomerContact).c.customer_id == cust.c.id))
            .where(cust.c.merchant_id == merchant_id)
        ),
        "pos_transaction": scalar(select(func.count()).select_from(txn).where(txn.c.merchant_id == merchant_id)),
        "transaction_line": scalar(
            select(func.count())
            .select_from(table_of(TransactionLine).join(txn, table_of(TransactionLine).c.transaction_id == txn.c.id))
            .where(txn.c.merchant_id == merchant_id)
        ),
        "loyalty_ledger": scalar(
            select(func.count())
            .select_from(table_of(LoyaltyLedger).join(cust, table_of(LoyaltyLedger).c.customer_id == cust.c.id))
            .where(cust.c.merchant_id == merchant_id)
        ),
    }


def _reserve_ids(conn: Connection, model: type[Any], count: int) -> list[int]:
    """Primary keys for `count` new rows, so children can reference them without RETURNING.

    `INSERT ... RETURNING` with ordered results degrades to one statement per row on
    SQLite, which made 100k customers take minutes. Postgres hands out ids from the
    column's own sequence (safe next to concurrent writers); SQLite has a single writer
    and this runs after the merchant insert took the write lock, so max(id)+1 is ours.
    """
    if count <= 0:
        return []
    table = table_of(model)
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
            {"table": table.name, "n": count},
        )
        return [int(r[0]) for r in rows]
    first = int(conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1
    return list(range(first, first + count))


def _bulk_insert(conn: Connection, model: type[Any], rows: list[dict[str, Any]]) -> None:
    """executemany of many rows, all with the same keys.

    On SQLite the statement goes straight to the driver with values converted by each
    column type's own bind processor (exactly what Core would store, without Core's
    per-row bookkeeping, which cost ~15 µs a row). Other backends use Core executemany.
    A test seeds the same data through both paths and compares the stored rows.
    """
    if not rows:
        return
    table = table_of(model)
    if conn.dialect.name != "sqlite" or not _FAST_SQLITE_INSERTS:
        conn.execute(insert(table), rows)
        return
    columns = list(rows[0])
    processors = [table.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for name in columns]
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    plain = [i for i, proc in enumerate(processors) if proc is None]
    if len(plain) == len(columns):
        conn.exec_driver_sql(sql, [tuple(row.values()) for row in rows])
        return
    converted = []
    for row in rows:
        values = list(row.values())
        for i, proc in enumerate(processors):
            if proc is not None:
                values[i] = proc(values[i])
        converted.append(tuple(values))
    conn.exec_driver_sql(sql, converted)


def _insert_with_ids(conn: Connection, model: type[Any], rows: list[dict[str, Any]]) -> list[int]:
    """Bulk insert (executemany) with reserved primary keys; returns them in row order."""
    ids = _reserve_ids(conn, model, len(rows))
    for row, row_id in zip(rows, ids, strict=True):
        row["id"] = row_id
    _bulk_insert(conn, model, rows)
    return ids


def _write_transactions(
    conn: Connection, transactions: Sequence[SandboxTransaction], customer_ids: dict[str, int]
) -> int:
    """Insert tickets and their lines; returns the number of lines written."""
    txn_rows = [
        {
            "merchant_id": MERCHANT_ID,
            "location_id": t.location_id,
            "pos_transaction_id": t.pos_transaction_id,
            "customer_id": customer_ids[t.pos_customer_id] if t.pos_customer_id else None,
            "occurred_at": t.occurred_at,
            "total_cents": t.total_cents,
            "currency": CURRENCY,
            "party_size": t.party_size,
            "source_event_id": None,
            "created_at": t.occurred_at,
        }
        for t in transactions
    ]
    txn_ids = _insert_with_ids(conn, PosTransaction, txn_rows)
    line_rows = [
        {
            "transaction_id": txn_id,
            "sku": line.sku,
            "name": line.name,
            "quantity": line.quantity,
            "unit_price_cents": line.unit_price_cents,
        }
        for txn_id, t in zip(txn_ids, transactions, strict=True)
        for line in t.lines
    ]
    _bulk_insert(conn, TransactionLine, line_rows)
    return len(line_rows)


def _write_customer_chunk(
    conn: Connection, chunk: list[tuple[SandboxCustomer, list[SandboxTransaction]]]
) -> dict[str, int]:
    customer_rows = [
        {
            "merchant_id": MERCHANT_ID,
            "pos_customer_id": c.pos_customer_id,
            "pseudonym": c.pseudonym,
            "tier": c.tier,
            "points": c.points,
            "consent_sms": c.consent_sms,
            "consent_email": c.consent_email,
            "consent_alcohol_marketing": c.consent_alcohol_marketing,
            "opted_out_at": c.opted_out_at,
            "age_verified": c.age_verified,
            "birthday": c.birthday,
            "allergies": list(c.allergies) if c.allergies is not None else None,
            "timezone": c.timezone,
            "home_location_id": c.home_location_id,
            "profile_version": 0,
            "created_at": c.created_at,
            "updated_at": c.updated_at,
        }
        for c, _ in chunk
    ]
    ids = _insert_with_ids(conn, Customer, customer_rows)
    id_by_pos = {c.pos_customer_id: cid for cid, (c, _) in zip(ids, chunk, strict=True)}
    _bulk_insert(
        conn,
        CustomerContact,
        [
            {
                "customer_id": id_by_pos[c.pos_customer_id],
                "given_name": c.contact.given_name,
                "family_name": c.contact.family_name,
                "email": c.contact.email,
                "phone": c.contact.phone,
                "notes": c.contact.notes,
                "updated_at": c.created_at,
            }
            for c, _ in chunk
        ],
    )
    ledger_rows: list[dict[str, Any]] = []
    for c, txns in chunk:
        if not c.points_earned:
            continue
        # Ledger sums to the balance, so the sandbox POS's accrue/redeem starts from a consistent state.
        last = txns[-1].occurred_at if txns else c.created_at
        customer_id = id_by_pos[c.pos_customer_id]
        ledger_rows.append(_ledger_row(customer_id, c, "earned", c.points_earned, last))
        if c.points_earned != c.points:
            ledger_rows.append(_ledger_row(customer_id, c, "redeemed", c.points - c.points_earned, last))
    _bulk_insert(conn, LoyaltyLedger, ledger_rows)
    transactions = [t for _, txns in chunk for t in txns]
    lines = _write_transactions(conn, transactions, id_by_pos)
    return {
        "customer": len(chunk),
        "customer_contact": len(chunk),
        "loyalty_ledger": len(ledger_rows),
        "pos_transaction": len(transactions),
        "transaction_line": lines,
    }


def _ledger_row(customer_id: int, c: SandboxCustomer, kind: str, delta: int, at: datetime) -> dict[str, Any]:
    return {
        "idempotency_key": f"sandbox-seed:{MERCHANT_ID}:{c.pos_customer_id}:{kind}",
        "customer_id": customer_id,
        "delta": delta,
        "reason": f"sandbox_history_{kind}",
        "transaction_id": None,
        "offer_id": None,
        "created_at": at,
    }


def _write_static(conn: Connection, start: date) -> None:
    opened = datetime.combine(start, time(), tzinfo=UTC) - timedelta(days=2000)
    conn.execute(insert(table_of(Merchant)),
                 [{"id": MERCHANT_ID, "name": MERCHANT_NAME, "currency": CURRENCY, "created_at": opened}])
    conn.execute(
        insert(table_of(Location)),
        [
            {
                "id": loc.id,
                "merchant_id": MERCHANT_ID,
                "name": loc.name,
                "timezone": loc.timezone,
                "alcohol_policy": loc.alcohol_policy,
                "created_at": opened,
            }
            for loc in SANDBOX_LOCATIONS
        ],
    )
    conn.execute(
        insert(table_of(CatalogItem)),
        [
            {
                "merchant_id": MERCHANT_ID,
                "sku": item.sku,
                "name": item.name,
                "category": item.category,
                "subcategory": item.subcategory,
                "price_cents": item.price_cents,
                "unit_cost_cents": item.unit_cost_cents,
                "allergens": list(item.allergens),
                "contains_alcohol": item.contains_alcohol,
                "active": True,
                "description": item.description,
            }
            for item in MENU
        ],
    )


def _count_walk_ins(counts: dict[str, int], transactions: int, lines: int) -> None:
    counts["pos_transaction"] += transactions
    counts["transaction_line"] += lines


def write_sandbox(
    conn: Connection, *, customers: int, months: int, seed: int, start: date, end: date
) -> dict[str, int]:
    """Static rows, then customers in chunks (bounded memory), then anonymous walk-ins."""
    counts = {"merchant": 1, "location": len(SANDBOX_LOCATIONS), "catalog_item": len(MENU)}
    for key in ("customer", "customer_contact", "loyalty_ledger", "pos_transaction", "transaction_line"):
        counts[key] = 0
    _write_static(conn, start)
    for chunk_start in range(1, customers + 1, _CHUNK_CUSTOMERS):
        chunk_end = min(customers, chunk_start + _CHUNK_CUSTOMERS - 1)
        chunk = [customer_bundle(seed, i, start, end) for i in range(chunk_start, chunk_end + 1)]
        for key, value in _write_customer_chunk(conn, chunk).items():
            counts[key] += value
    walk_ins: list[SandboxTransaction] = []
    for txn in iter_walk_ins(seed, customers, months, start, end):
        walk_ins.append(txn)
        if len(walk_ins) >= 10_000:
            _count_walk_ins(counts, len(walk_ins), _write_transactions(conn, walk_ins, {}))
            walk_ins = []
    _count_walk_ins(counts, len(walk_ins), _write_transactions(conn, walk_ins, {}))
    return counts


def enlarge_sqlite_cache(conn: Connection) -> int | None:
    """A 128 MB page cache for the seeding connection (SQLite only).

    The default 2 MB cache keeps spilling index pages of the big tables into the WAL
    mid-transaction; a larger one cut seeding CPU by ~15 % at 10k customers.
    """
    if conn.dialect.name != "sqlite":
        return None
    previous = int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())
    conn.exec_driver_sql("PRAGMA cache_size=-131072")
    conn.commit()
    return previous


def restore_sqlite_cache(conn: Connection, previous: int | None) -> None:
    if previous is None:
        return
    conn.rollback()  # no-op after a commit; ends a failed transaction before the PRAGMA
    conn.exec_driver_sql(f"PRAGMA cache_size={int(previous)}")
    conn.commit()
