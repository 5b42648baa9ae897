"""Backend-neutral types of the vector store: points, filters, hits, point ids, payload schema.

Both backends translate the same small condition vocabulary (`Match`, `MatchAny`, `Range`,
`ExcludeIds`, `HasIds`) into their own filter objects, so the tenant filter and the profile filters are
built once, here, and cannot drift between the embedded engine and the server.

Payload conventions (identical in both backends):
- `merchant_id` is the tenant key on every point and every query filters by it.
- datetimes are stored as integer unix seconds (`occurred_at`), so range filters are plain integer
  ranges on both backends.
- booleans are stored as integers 0/1 (`lapsed`). qdrant-edge-py 0.9 converts a Python `True` in
  `MatchValue` to the integer 1 (bool is an int subclass), which never matches a JSON boolean, so a
  boolean payload could not be filtered on the embedded engine; hits convert it back to `bool`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

CollectionName = Literal["profiles", "purchases"]
PROFILES: CollectionName = "profiles"
PURCHASES: CollectionName = "purchases"
COLLECTIONS: tuple[CollectionName, ...] = (PROFILES, PURCHASES)
# Collections that also store the BM25 sparse vector of their document (hybrid search, vectorstore.sparse).
SPARSE_COLLECTIONS: frozenset[CollectionName] = frozenset({PROFILES})

VectorLike = npt.NDArray[np.float32] | Sequence[float]

# Fixed namespace: point ids must be identical across processes and releases, or re-upserts
# would duplicate points instead of replacing them.
POINT_ID_NAMESPACE = uuid.UUID("5b0f6a52-3f0e-4f7e-9a55-2f6d0c1e7a10")

IndexKind = Literal["tenant", "keyword", "integer", "float"]

# Payload indexes per collection: exactly the fields the store filters or orders by.
PAYLOAD_INDEXES: dict[CollectionName, dict[str, IndexKind]] = {
    PROFILES: {
        "merchant_id": "tenant",
        "customer_id": "integer",
        "tier": "keyword",
        "lapsed": "integer",
        "churn_risk": "float",
        "visits_12m": "integer",
        "spend_12m_cents": "integer",
        "favourite_categories": "keyword",
    },
    PURCHASES: {
        "merchant_id": "tenant",
        "customer_id": "integer",
        "occurred_at": "integer",
        "day_part": "keyword",
        "weekday": "integer",
        "categories": "keyword",
    },
}

_BOOL_FIELDS = {"lapsed"}


def profile_point_id(*, merchant_id: str, customer_id: int) -> str:
    """Deterministic id of a customer's profile point (re-upserts replace, never duplicate)."""
    return str(uuid.uuid5(POINT_ID_NAMESPACE, f"profile:{merchant_id}:{customer_id}"))


def purchase_point_id(*, merchant_id: str, transaction_id: int) -> str:
    """Deterministic id of one visit's purchase point."""
    return str(uuid.uuid5(POINT_ID_NAMESPACE, f"purchase:{merchant_id}:{transaction_id}"))


def as_vector(vector: VectorLike) -> list[float]:
    """Plain float list (both engines' Python bindings take lists)."""
    return np.asarray(vector, dtype=np.float32).reshape(-1).tolist()


def unix_seconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: vector store timestamps must be timezone-aware")
    return int(moment.timestamp())


@dataclass(frozen=True, slots=True)
class ProfilePoint:
    """One customer's pseudonymized profile document, its vector and filterable features.

    `extra` carries further JSON-serialisable features (next-visit date, CLV, ...) into the payload
    without a change here; they are returned in hits but not indexed.
    """

    merchant_id: str
    customer_id: int
    pseudonym: str
    document: str
    vector: VectorLike
    tier: str = "standard"
    churn_risk: float = 0.0
    visits_12m: int = 0
    spend_12m_cents: int = 0
    weekend_share: float = 0.0
    dessert_share: float = 0.0
    alcohol_share: float = 0.0
    brunch_share: float = 0.0
    lapsed: bool = False
    favourite_categories: Sequence[str] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def point_id(self) -> str:
        return profile_point_id(merchant_id=self.merchant_id, customer_id=self.customer_id)

    def payload(self) -> dict[str, Any]:
        return {
            **self.extra,
            "merchant_id": self.merchant_id,
            "customer_id": self.customer_id,
            "pseudonym": self.pseudonym,
            "tier": self.tier,
            "churn_risk": float(self.churn_risk),
            "visits_12m": int(self.visits_12m),
            "spend_12m_cents": int(self.spend_12m_cents),
            "weekend_share": float(self.weekend_share),
            "dessert_share": float(self.dessert_share),
            "alcohol_share": float(self.alcohol_share),
            "brunch_share": float(self.brunch_share),
            "lapsed": int(bool(self.lapsed)),
            "favourite_categories": list(self.favourite_categories),
            "document": self.document,
        }


@dataclass(frozen=True, slots=True)
class PurchasePoint:
    """One visit (transaction): what was bought, when, in which day part."""

    merchant_id: str
    customer_id: int
    transaction_id: int
    pseudonym: str
    occurred_at: datetime
    day_part: str  # breakfast | brunch | lunch | afternoon | dinner | late
    document: str
    vector: VectorLike
    skus: Sequence[str] = ()
    categories: Sequence[str] = ()
    total_cents: int = 0

    @property
    def point_id(self) -> str:
        return purchase_point_id(merchant_id=self.merchant_id, transaction_id=self.transaction_id)

    def payload(self) -> dict[str, Any]:
        return {
            "merchant_id": self.merchant_id,
            "customer_id": self.customer_id,
            "transaction_id": self.transaction_id,
            "pseudonym": self.pseudonym,
            "occurred_at": unix_seconds(self.occurred_at),
            "day_part": self.day_part,
            "weekday": self.occurred_at.weekday(),
            "skus": list(self.skus),
            "categories": list(self.categories),
            "total_cents": int(self.total_cents),
            "document": self.document,
        }


@dataclass(frozen=True, slots=True)
class ProfileFilter:
    """Structured narrowing of a profile search; every set field must hold (AND)."""

    tiers: Sequence[str] | None = None
    lapsed: bool | None = None
    min_churn_risk: float | None = None
    max_churn_risk: float | None = None
    min_visits_12m: int | None = None
    min_spend_12m_cents: int | None = None
    favourite_categories_any: Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    """One result. `score` is the cosine similarity, or None for unranked (scroll) results."""

    customer_id: int
    pseudonym: str
    score: float | None
    payload: dict[str, Any]
    point_id: str


# ---- condition vocabulary shared by the backends -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Match:
    key: str
    value: str | int


@dataclass(frozen=True, slots=True)
class MatchAny:
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Range:
    key: str
    gte: float | None = None
    lte: float | None = None


@dataclass(frozen=True, slots=True)
class ExcludeIds:
    point_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HasIds:
    point_ids: tuple[str, ...]


Condition = Match | MatchAny | Range | ExcludeIds | HasIds


def tenant_conditions(merchant_id: str, customer_id: int | None = None) -> list[Condition]:
    if not merchant_id:
        raise ValueError("merchant_id is required: every vector query is scoped to one tenant")
    conditions: list[Condition] = [Match("merchant_id", merchant_id)]
    if customer_id is not None:
        conditions.append(Match("customer_id", int(customer_id)))
    return conditions


def profile_conditions(merchant_id: str, filters: ProfileFilter | None) -> list[Condition]:
    conditions = tenant_conditions(merchant_id)
    if filters is None:
        return conditions
    if filters.tiers:
        conditions.append(MatchAny("tier", tuple(filters.tiers)))
    if filters.lapsed is not None:
        conditions.append(Match("lapsed", int(filters.lapsed)))
    if filters.min_churn_risk is not None or filters.max_churn_risk is not None:
        conditions.append(Range("churn_risk", gte=filters.min_churn_risk, lte=filters.max_churn_risk))
    if filters.min_visits_12m is not None:
        conditions.append(Range("visits_12m", gte=filters.min_visits_12m))
    if filters.min_spend_12m_cents is not None:
        conditions.append(Range("spend_12m_cents", gte=filters.min_spend_12m_cents))
    if filters.favourite_categories_any:
        conditions.append(MatchAny("favourite_categories", tuple(filters.favourite_categories_any)))
    return conditions


def purchase_conditions(
    merchant_id: str,
    *,
    customer_id: int | None = None,
    occurred_from: datetime | None = None,
    occurred_to: datetime | None = None,
    day_parts: Sequence[str] | None = None,
) -> list[Condition]:
    conditions = tenant_conditions(merchant_id, customer_id)
    if occurred_from is not None or occurred_to is not None:
        conditions.append(
            Range(
                "occurred_at",
                gte=unix_seconds(occurred_from) if occurred_from else None,
                lte=unix_seconds(occurred_to) if occurred_to else None,
            )
        )
    if day_parts:
        conditions.append(MatchAny("day_part", tuple(day_parts)))
    return conditions


def hit_from(point_id: Any, score: float | None, payload: dict[str, Any] | None) -> Hit:
    data = dict(payload or {})
    for key in _BOOL_FIELDS & data.keys():
        data[key] = bool(data[key])
    return Hit(
        customer_id=int(data.get("customer_id", 0)),
        pseudonym=str(data.get("pseudonym", "")),
        score=None if score is None else float(score),
        payload=data,
        point_id=str(point_id),
    )
