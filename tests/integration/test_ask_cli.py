"""`loyalty-agent ask CUSTOMER "question"` against a seeded database: the answer and its citations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from core.settings import get_settings
from db.tables import AuditEvent, Customer
from loyalty_agent.cli import app
from sandbox.seed import seed_database


@pytest.fixture
def seeded(database_url: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    seed_database(engine, customers=60, seed=42)
    yield engine
    get_settings.cache_clear()


def test_ask_prints_answer_and_citations(seeded: Engine) -> None:
    with Session(seeded) as session:
        customer = session.exec(select(Customer).where(col(Customer.allergies).is_not(None))
                                .order_by(col(Customer.id))).first()
    assert customer is not None
    result = CliRunner().invoke(app, ["ask", customer.pos_customer_id, "any allergies?", "--no-vectors"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert "allergies" in lines[0].lower()
    assert any(line.startswith("  [profile] profile:allergies (allergies): ") for line in lines)
    assert lines[-1].startswith("-- offline ask-offline@")
    with Session(seeded) as session:
        actors = set(session.exec(select(AuditEvent.actor).where(col(AuditEvent.node).startswith("ask."))).all())
    assert actors == {"cli"}


def test_unknown_guest_and_long_question_exit_2(seeded: Engine) -> None:
    runner = CliRunner()
    unknown = runner.invoke(app, ["ask", "cust_nobody", "any allergies?", "--no-vectors"])
    assert unknown.exit_code == 2 and "no customer with POS id 'cust_nobody'" in unknown.output
    too_long = runner.invoke(app, ["ask", "cust_000001", "x" * 1001, "--no-vectors"])
    assert too_long.exit_code == 2 and "1000" in too_long.output
