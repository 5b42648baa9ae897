"""Semantic segment search over pseudonymized profiles (marketers)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, Marketer, SettingsDep

router = APIRouter(prefix="/segments", tags=["segments"])


class SegmentHit(BaseModel):
    customer: str
    score: float
    tier: str | None = None
    churn_risk: float | None = None
    visits_12m: int | None = None
    lapsed: bool | None = None
    summary: str | None = None


def search(settings: Any, engine: Any, q: str, limit: int) -> list[SegmentHit]:
    from agent.runner import get_agent

    agent = get_agent(settings, engine)
    store, embedder = agent.ctx.vector_store, agent.ctx.embedder
    if store is None or embedder is None:
        return []
    vector = embedder.embed([q])[0]
    hits = store.search_profiles(vector, merchant_id=settings.default_merchant_id, limit=limit)
    return [
        SegmentHit(
            customer=h.pseudonym,
            score=round(float(h.score or 0.0), 4),
            tier=h.payload.get("tier"),
            churn_risk=h.payload.get("churn_risk"),
            visits_12m=h.payload.get("visits_12m"),
            lapsed=bool(h.payload.get("lapsed")),
            summary=h.payload.get("document"),
        )
        for h in hits
    ]


@router.get("/search", response_model=list[SegmentHit])
async def segment_search(
    key: Marketer,
    settings: SettingsDep,
    engine: EngineDep,
    q: str = Query(min_length=2, max_length=500, description="e.g. 'wine lovers on weekends'"),
    limit: int = Query(default=20, ge=1, le=200),
) -> list[SegmentHit]:
    return await run_in_threadpool(search, settings, engine, q, limit)
