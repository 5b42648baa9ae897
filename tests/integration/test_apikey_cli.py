"""`loyalty-agent apikey list|revoke` against a real database: list shows no secret, revoke is immediate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from api.deps import active_api_key
from core.settings import get_settings
from db.crud import create_api_key
from db.engine import session_scope
from db.tables import ApiKey
from loyalty_agent.cli import app


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_list_and_revoke(cli_env: None, engine: Engine) -> None:
    with session_scope(engine) as s:
        manager, manager_raw = create_api_key(s, role="manager", name="Ana Lopez")
        marketer, marketer_raw = create_api_key(s, role="marketer")
    runner = CliRunner()

    listed = runner.invoke(app, ["apikey", "list"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.strip().splitlines()
    assert lines[0].split()[:3] == ["id", "prefix", "role"]
    rows = {int(line.split()[0]): line for line in lines[1:]}
    assert manager.id is not None and marketer.id is not None
    assert set(rows) == {manager.id, marketer.id}
    assert "manager" in rows[manager.id] and "Ana Lopez" in rows[manager.id] and manager.prefix in rows[manager.id]
    assert manager_raw not in listed.output and marketer_raw not in listed.output  # only hashes are stored

    revoked = runner.invoke(app, ["apikey", "revoke", str(marketer.id)])
    assert revoked.exit_code == 0, revoked.output
    assert f"revoked key {marketer.id} (marketer)" in revoked.output
    with Session(engine) as s:
        assert active_api_key(s, marketer_raw) is None  # the next request with it is refused
        assert active_api_key(s, manager_raw) is not None
        first_revocation = s.get(ApiKey, marketer.id).revoked_at  # type: ignore[union-attr]
    assert first_revocation is not None

    again = runner.invoke(app, ["apikey", "revoke", str(marketer.id)])
    assert again.exit_code == 0
    with Session(engine) as s:
        assert s.get(ApiKey, marketer.id).revoked_at == first_revocation  # type: ignore[union-attr]

    active = runner.invoke(app, ["apikey", "list", "--active"])
    assert [int(line.split()[0]) for line in active.output.strip().splitlines()[1:]] == [manager.id]

    unknown = runner.invoke(app, ["apikey", "revoke", "999"])
    assert unknown.exit_code == 1 and "no API key with id 999" in unknown.output
