"""Semantic segment search over pseudonymized profiles (marketers)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel

from api.deps import EmbedderDep, Marketer, SettingsDep, VectorStoreDep
from vectorstore.embeddings import Embedder
from vectorstore.service import VectorServiceUnavailable
from vectorstore.store import VectorStore

router = APIRouter(prefix="/segments", tags=["segments"])


class SegmentHit(BaseModel):
    customer: str
    score: float
    tier: str | None = None
    churn_risk: float | None = None
    visits_12m: int | None = None
    lapsed: bool | None = None
    summary: str | None = None


def search(store: VectorStore, embedder: Embedder, *, merchant_id: str, q: str, limit: int) -> list[SegmentHit]:
    vector = embedder.embed([q])[0]
    hits = store.search_profiles(vector, merchant_id=merchant_id, limit=limit, text=q)  # hybrid: dense + BM25
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
def segment_search(
    key: Marketer,
    settings: SettingsDep,
    store: VectorStoreDep,
    embedder: EmbedderDep,
    q: str = Query(min_length=2, max_length=500, description="e.g. 'wine lovers on weekends'"),
    limit: int = Query(default=20, ge=1, le=200),
) -> list[SegmentHit]:
    """Sync on purpose: embedding and the vector query run in FastAPI's thread pool."""
    if store is None or embedder is None:
        return []
    try:
        return search(store, embedder, merchant_id=settings.default_merchant_id, q=q, limit=limit)
    except VectorServiceUnavailable:  # the worker process that owns the index is (re)starting
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "segment search is starting up; retry shortly",
                            headers={"Retry-After": "2"}) from None
