"""Adapters and providers are chosen from Settings, and misconfiguration fails at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import create_engine

from core.settings import Settings
from tools.factory import make_messaging_provider, make_pos_adapter
from tools.marketing.providers import HttpMessagingProvider, SandboxMessagingProvider
from tools.pos.sandbox import SandboxPos


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(data_dir=tmp_path, _env_file=None, **values)  # type: ignore[call-arg]


def test_sandbox_is_the_default(tmp_path: Path) -> None:
    engine = create_engine("sqlite://")
    assert isinstance(make_pos_adapter(_settings(tmp_path), engine), SandboxPos)
    assert isinstance(make_messaging_provider(_settings(tmp_path)), SandboxMessagingProvider)


def test_square_and_http_need_their_settings(tmp_path: Path) -> None:
    engine = create_engine("sqlite://")
    with pytest.raises(ValueError, match="SQUARE_ACCESS_TOKEN"):
        make_pos_adapter(_settings(tmp_path, pos_provider="square"), engine)
    square = make_pos_adapter(
        _settings(tmp_path, pos_provider="square", square_access_token="t", square_base_url="http://127.0.0.1:1"),
        engine,
    )
    assert square.name == "square"
    with pytest.raises(ValueError, match="MARKETING_BASE_URL"):
        make_messaging_provider(_settings(tmp_path, marketing_provider="http"))
    http = make_messaging_provider(_settings(tmp_path, marketing_provider="http", marketing_base_url="http://x"))
    assert isinstance(http, HttpMessagingProvider)


def test_sandbox_provider_dedupes_by_key() -> None:
    provider = SandboxMessagingProvider(keep_last=2)
    first = provider.send(idempotency_key="k1", channel="sms", to="+1", subject=None, body="a")
    assert provider.send(idempotency_key="k1", channel="sms", to="+1", subject=None, body="a") == first
    provider.send(idempotency_key="k2", channel="sms", to="+1", subject=None, body="b")
    provider.send(idempotency_key="k3", channel="sms", to="+1", subject=None, body="c")
    assert [d.idempotency_key for d in provider.deliveries] == ["k2", "k3"]  # bounded memory
