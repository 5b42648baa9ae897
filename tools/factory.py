"""Build the configured POS adapter and messaging provider from Settings.

`sandbox` (the embedded default) needs nothing but the database; `square` / `http` need their
credentials and fail fast at start-up rather than at the first offer.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from core.settings import Settings
from tools.marketing.providers import HttpMessagingProvider, MessagingProvider, SandboxMessagingProvider
from tools.pos.base import PosAdapter
from tools.pos.sandbox import SandboxPos


def make_pos_adapter(settings: Settings, engine: Engine, *, merchant_id: str | None = None) -> PosAdapter:
    if settings.pos_provider == "sandbox":
        return SandboxPos(engine, merchant_id=merchant_id)
    if not settings.square_access_token:
        raise ValueError("POS_PROVIDER=square needs SQUARE_ACCESS_TOKEN")
    from tools.pos.square import SquarePos  # the SDK is only imported when Square is configured

    return SquarePos.from_settings(settings)


def make_messaging_provider(settings: Settings) -> MessagingProvider:
    if settings.marketing_provider == "sandbox":
        return SandboxMessagingProvider()
    if not settings.marketing_base_url:
        raise ValueError("MARKETING_PROVIDER=http needs MARKETING_BASE_URL")
    return HttpMessagingProvider(base_url=settings.marketing_base_url, api_key=settings.marketing_api_key)
