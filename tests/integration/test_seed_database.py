"""seed_database and sample_sales against real database engines (SQLite files; Postgres when reachable)."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col
from sqlmodel import select as sqlmodel_select

import db.tables  # noqa: F401  (registers every table on SQLModel.metadata)
import sandbox.writer as writer_module
from db.engine import make_engine
from db.tables import Customer, CustomerContact, PosTransaction, TransactionLine
from sandbox.history import generate_sandbox
from sandbox.menu import MENU_BY_SKU
from sandbox.personas import PERSONAS, sandbox_customer_personas
from sandbox.replay import sample_sales
from sandbox.restaurant import MERCHANT_ID
from sandbox.seed import seed_database

CUSTOMERS = 250
MONTHS = 6
NOW = datetime(2026, 11, 2, 18, 0, tzinfo=UTC)


def _fresh_engine(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(engine)
    return engine


def _dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, ordered by primary key."""
    with engine.connect() as conn:
        return {
            table.name: [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key.columns))]
            for table in SQLModel.metadata.sorted_tables
        }


def _raw_dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Rows as SQLite stores them (no type processing), to compare storage formats exactly."""
    with engine.connect() as conn:
        return {
            table.name: [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table.name} ORDER BY 1, 2")]
            for table in SQLModel.metadata.sorted_tables
        }


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = _fresh_engine(tmp_path_factory.mktemp("seed") / "seeded.db")
    result = seed_database(engine, customers=CUSTOMERS, months=MONTHS, seed=42)
    assert result.created
    yield engine
    engine.dispose()


def test_counts_match_tables_and_generator(seeded: Engine) -> None:
    data = generate_sandbox(customers=CUSTOMERS, months=MONTHS, seed=42)
    dump = _dump(seeded)
    assert len(dump["merchant"]) == 1 and len(dump["location"]) == 2
    assert len(dump["catalog_item"]) == len(data.menu)
    assert len(dump["customer"]) == len(dump["customer_contact"]) == CUSTOMERS
    assert len(dump["pos_transaction"]) == len(data.transactions)
    assert len(dump["transaction_line"]) == sum(len(t.lines) for t in data.transactions)
    again = seed_database(seeded, customers=CUSTOMERS, months=MONTHS, seed=42)
    assert again.counts == {name: len(rows) for name, rows in dump.items() if name in again.counts}


def test_second_seed_changes_nothing(seeded: Engine) -> None:
    before = _dump(seeded)
    result = seed_database(seeded, customers=CUSTOMERS * 2, months=MONTHS, seed=99)
    assert result.created is False
    assert result.counts["customer"] == CUSTOMERS
    assert _dump(seeded) == before


def test_same_seed_same_rows_other_seed_other_rows(tmp_path: Path, seeded: Engine) -> None:
    twin = _fresh_engine(tmp_path / "twin.db")
    other = _fresh_engine(tmp_path / "other.db")
    assert seed_database(twin, customers=CUSTOMERS, months=MONTHS, seed=42).created
    assert seed_database(other, customers=CUSTOMERS, months=MONTHS, seed=43).created
    reference = _dump(seeded)
    assert _dump(twin) == reference
    other_dump = _dump(other)
    assert other_dump["customer"] != reference["customer"]
    assert other_dump["pos_transaction"] != reference["pos_transaction"]
    assert other_dump["catalog_item"] == reference["catalog_item"]  # the menu does not depend on the seed


def test_fast_sqlite_path_stores_exactly_what_core_stores(
    tmp_path: Path, seeded: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "_FAST_SQLITE_INSERTS", False)
    core = _fresh_engine(tmp_path / "core.db")
    seed_database(core, customers=CUSTOMERS, months=MONTHS, seed=42)
    assert _raw_dump(core) == _raw_dump(seeded)


def test_orm_reads_back_typed_values(seeded: Engine) -> None:
    with Session(seeded) as session:
        customers = list(session.exec(sqlmodel_select(Customer).order_by(col(Customer.id))))
        assert any(c.allergies is None for c in customers)
        assert any(c.allergies == [] for c in customers)
        assert any(c.allergies for c in customers)
        assert all(c.created_at.tzinfo is not None and c.updated_at.tzinfo is not None for c in customers)
        assert all(re.fullmatch(r"g_[0-9a-f]{16}", c.pseudonym) for c in customers)
        assert all(c.merchant_id == MERCHANT_ID for c in customers)
        txn = session.exec(sqlmodel_select(PosTransaction).order_by(col(PosTransaction.id))).first()
        assert txn is not None and txn.occurred_at.tzinfo is not None
        lines = list(session.exec(sqlmodel_select(TransactionLine).where(TransactionLine.transaction_id == txn.id)))
        assert txn.total_cents == sum(line.quantity * line.unit_price_cents for line in lines)


def test_contact_pii_lives_only_in_customer_contact(seeded: Engine) -> None:
    dump = _dump(seeded)
    with Session(seeded) as session:
        contacts = list(session.exec(sqlmodel_select(CustomerContact)))
    needles = {c.email for c in contacts if c.email} | {c.phone for c in contacts if c.phone}
    needles |= {f"{c.given_name} {c.family_name}" for c in contacts}
    assert len(needles) > CUSTOMERS
    outside = " ".join(
        str(value) for name, rows in dump.items() if name != "customer_contact" for row in rows for value in row
    )
    leaked = [needle for needle in needles if needle in outside]
    assert leaked == []
    # Persona labels are ground truth for evals, never stored.
    assert not any(re.search(rf"\b{persona}\b", outside) for persona in PERSONAS if persona != "regular")


def test_ledger_sums_to_points(seeded: Engine) -> None:
    with seeded.connect() as conn:
        mismatches = conn.execute(
            text(
                "SELECT c.id FROM customer c LEFT JOIN loyalty_ledger l ON l.customer_id = c.id "
                "GROUP BY c.id, c.points HAVING COALESCE(SUM(l.delta), 0) != c.points"
            )
        ).all()
    assert mismatches == []


# --- sample_sales ------------------------------------------------------------------------------------


def test_sample_sales_events_follow_the_contract(seeded: Engine) -> None:
    events = sample_sales(seeded, count=60, seed=5, now=NOW)
    assert len(events) == 60
    assert sample_sales(seeded, count=60, seed=5, now=NOW) == events
    assert sample_sales(seeded, count=60, seed=6, now=NOW) != events
    with seeded.connect() as conn:
        seeded_txn_ids = set(conn.execute(text("SELECT pos_transaction_id FROM pos_transaction")).scalars())
        known = set(conn.execute(text("SELECT pos_customer_id FROM customer")).scalars())
    assert len({e["event_id"] for e in events}) == 60
    assert len({e["data"]["id"] for e in events}) == 60
    assert not seeded_txn_ids & {e["data"]["id"] for e in events}
    for event in events:
        assert set(event) == {"event", "event_id", "created_at", "data"}
        assert event["event"] == "sale.completed" and event["event_id"].startswith("evt_")
        created = datetime.fromisoformat(event["created_at"].replace("Z", "+00:00"))
        assert created.tzinfo is not None and created <= NOW
        data = event["data"]
        assert set(data) == {"id", "location_id", "customer_id", "line_items", "total_money"}
        assert data["location_id"] in {"loc_1", "loc_2"}
        assert data["customer_id"] in known or data["customer_id"].startswith("cust_new_")
        assert data["line_items"]
        for item in data["line_items"]:
            assert set(item) == {"sku", "name", "quantity", "price"}
            assert item["price"] == MENU_BY_SKU[item["sku"]].price_cents / 100
        total = sum(round(item["price"] * 100) * item["quantity"] for item in data["line_items"])
        assert data["total_money"] == {"amount": total, "currency": "USD"}
    assert any(e["data"]["customer_id"].startswith("cust_new_") for e in events)


def test_sample_sales_respect_age_location_and_allergies(seeded: Engine) -> None:
    events = sample_sales(seeded, count=300, seed=11, now=NOW)
    with Session(seeded) as session:
        customers = {c.pos_customer_id: c for c in session.exec(sqlmodel_select(Customer))}
    for event in events:
        data = event["data"]
        skus = [item["sku"] for item in data["line_items"]]
        alcohol = any(MENU_BY_SKU[s].contains_alcohol for s in skus)
        if data["location_id"] == "loc_2":
            assert not alcohol
        customer = customers.get(data["customer_id"])
        if customer is None:
            continue
        if customer.birthday is not None and _age(customer.birthday, NOW.date()) < 21:
            assert not alcohol
        for sku in skus:
            assert not set(customer.allergies or []) & set(MENU_BY_SKU[sku].allergens)


def test_sample_sales_reorders_the_customers_own_pattern(seeded: Engine) -> None:
    """The salmon regular keeps ordering salmon in replayed sales."""
    truth = sandbox_customer_personas(42, CUSTOMERS, MONTHS)
    salmon = {cid for cid, labels in truth.items() if "signature:SALMON-ENTREE" in labels}
    assert salmon
    events = sample_sales(seeded, count=600, seed=3, now=NOW, new_customer_share=0.0)
    theirs = [e for e in events if e["data"]["customer_id"] in salmon]
    assert theirs
    with_salmon = sum(any(i["sku"] == "SALMON-ENTREE" for i in e["data"]["line_items"]) for e in theirs)
    assert with_salmon / len(theirs) >= 0.6


def test_sample_sales_accepts_a_session(seeded: Engine) -> None:
    with Session(seeded) as session:
        assert sample_sales(session, count=5, seed=1, now=NOW) == sample_sales(seeded, count=5, seed=1, now=NOW)


def test_sample_sales_needs_a_seeded_catalog(tmp_path: Path) -> None:
    empty = _fresh_engine(tmp_path / "empty.db")
    with pytest.raises(LookupError):
        sample_sales(empty, count=3, seed=1, now=NOW)
    assert sample_sales(empty, count=0, seed=1) == []


def _age(birthday: date, on: date) -> int:
    return on.year - birthday.year - ((on.month, on.day) < (birthday.month, birthday.day))


# --- PostgreSQL ---------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_seed_on_postgres_is_idempotent_and_leaves_sequences_usable() -> None:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("TEST_DATABASE_URL does not point at PostgreSQL")
    schema = f"seedtest_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        SQLModel.metadata.create_all(engine)
        first = seed_database(engine, customers=120, months=4, seed=42)
        assert first.created
        before = _dump(engine)
        second = seed_database(engine, customers=120, months=4, seed=42)
        assert second.created is False and second.counts == first.counts
        assert _dump(engine) == before
        data = generate_sandbox(customers=120, months=4, seed=42)
        assert len(before["pos_transaction"]) == len(data.transactions)
        # Ids were reserved from the sequences, so ordinary inserts afterwards do not collide.
        with Session(engine) as session:
            session.add(Customer(merchant_id=MERCHANT_ID, pos_customer_id="cust_after_seed", pseudonym="g_after"))
            session.commit()
        assert sample_sales(engine, count=10, seed=2, now=NOW)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
