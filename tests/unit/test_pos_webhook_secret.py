"""The POS webhook secret is shown once, when generated, on a terminal only; never logged."""

from __future__ import annotations

import io
import logging
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core.settings import POS_WEBHOOK_SECRET_FILE, Settings
from loyalty_agent.cli import show_new_pos_webhook_secret


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def settings(data_dir: Path, **values: object) -> Settings:
    values.setdefault("pos_webhook_secret", None)  # whatever the environment says
    return Settings(data_dir=data_dir, **values)  # type: ignore[arg-type]


def test_new_secret_is_returned_only_by_the_call_that_made_it(tmp_path: Path) -> None:
    s = settings(tmp_path)
    made = s.new_pos_webhook_secret()
    assert made is not None and made.startswith("whsec_")
    path = tmp_path / POS_WEBHOOK_SECRET_FILE
    assert path.read_text() == made
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert s.new_pos_webhook_secret() is None
    assert settings(tmp_path).new_pos_webhook_secret() is None  # a later start
    assert s.resolved_pos_webhook_secret() == made
    assert [p.name for p in tmp_path.iterdir()] == [POS_WEBHOOK_SECRET_FILE]  # no temp files left


def test_secret_from_the_environment_is_never_new_and_never_written(tmp_path: Path) -> None:
    s = settings(tmp_path, pos_webhook_secret="from-env")
    assert s.new_pos_webhook_secret() is None
    assert s.resolved_pos_webhook_secret() == "from-env"
    assert not (tmp_path / POS_WEBHOOK_SECRET_FILE).exists()


def test_concurrent_starts_agree_on_one_secret_and_one_announces_it(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: settings(tmp_path).new_pos_webhook_secret(), range(32)))
    announced = [m for m in made if m is not None]
    assert len(announced) == 1
    assert settings(tmp_path).resolved_pos_webhook_secret() == announced[0]


def test_shown_once_on_a_terminal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    s = settings(tmp_path)
    first, second = Terminal(), Terminal()
    show_new_pos_webhook_secret(s, stream=first)
    show_new_pos_webhook_secret(s, stream=second)
    secret = s.resolved_pos_webhook_secret()
    assert first.getvalue().count(secret) == 1
    assert second.getvalue() == ""
    assert secret not in caplog.text


def test_not_shown_when_output_is_not_a_terminal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    s = settings(tmp_path)
    piped = io.StringIO()
    show_new_pos_webhook_secret(s, stream=piped)
    secret = s.resolved_pos_webhook_secret()
    assert secret not in piped.getvalue()
    assert str(tmp_path / POS_WEBHOOK_SECRET_FILE) in piped.getvalue()
    assert secret not in caplog.text


def test_not_shown_when_configured(tmp_path: Path) -> None:
    out = Terminal()
    show_new_pos_webhook_secret(settings(tmp_path, pos_webhook_secret="from-env"), stream=out)
    assert out.getvalue() == ""
