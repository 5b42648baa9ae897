"""Builds the worker's offer runner: the offer graph run for each recorded sale."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from loyalty_agent.settings import Settings
from loyalty_agent.worker import OfferRunner


def make_offer_runner(settings: Settings, engine: Engine) -> OfferRunner | None:
    # The offer graph is wired in by issue 3; until then sales are recorded with outcome no_offer.
    return None
