"""One door to the review path for the review page and the Agent Inbox API.

Both call the function behind `POST /offers/{id}/review` itself, so a decision made in a browser or
in Agent Inbox gets exactly the JSON route's roles (a marketer edits copy and rejects, a manager
changes terms and accepts), validation, lease and re-check by the guardrails. Refusals arrive as
the route's own HTTPExceptions (403, 409, 422).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import HTTPException, status
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from core.settings import Settings
from db.tables import ApiKey

if TYPE_CHECKING:
    from agent.runner import OfferAgent


def validation_detail(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]


async def submit_review(
    offer_id: str,
    *,
    action: str,
    edits: dict[str, Any] | None,
    note: str | None,
    key: ApiKey,
    settings: Settings,
    engine: Engine,
    agent: OfferAgent,
) -> Any:
    """Review offer `offer_id` as `key` would through `POST /offers/{id}/review`; returns its OfferOut."""
    from api.routes.offers import ReviewIn, review_offer

    try:
        body = ReviewIn.model_validate({"action": action, "edits": edits or {}, "note": note})
    except ValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, validation_detail(exc)) from exc
    return await run_in_threadpool(review_offer, offer_id, body, key, settings, engine, agent)
