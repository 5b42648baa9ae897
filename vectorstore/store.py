"""The `VectorStore` interface: two collections (`profiles`, `purchases`), tenant-scoped queries.

The public methods are implemented once, here, on top of a handful of backend primitives
(`_create_collections`, `_upsert`, `_query`, `_query_sparse`, `_query_hybrid`, `_scroll`, `_vector_of`,
`_count`, `_delete`). The
embedded engine (`vectorstore.edge_backend.EdgeVectorStore`, the default) and a Qdrant server via
qdrant-client (`vectorstore.client_backend.ClientVectorStore`, when `QDRANT_URL` is set) therefore
share the tenant scoping, the point ids and the payload layout, and one contract test suite
(tests/unit/test_vectorstore_contract.py) runs against both.

Every read takes a `merchant_id` and filters on it: one collection per kind with a tenant key,
never a collection per merchant, and no query path that could return another merchant's points.

Index settings and when to call `optimize()` (batch job, not per transaction) are chosen, with the
measurements behind them, in `vectorstore.tuning`. Picking and caching a backend for the settings is
`vectorstore.factory`'s job: the interface knows no backend, so backends can import it without a cycle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from vectorstore.points import (
    PROFILES,
    PURCHASES,
    CollectionName,
    Condition,
    ExcludeIds,
    HasIds,
    Hit,
    ProfileFilter,
    ProfilePoint,
    PurchasePoint,
    VectorLike,
    as_vector,
    profile_conditions,
    profile_point_id,
    purchase_conditions,
    purchase_point_id,
    tenant_conditions,
)
from vectorstore.sparse import SparseVector, document_vector, query_vector

# (point id, dense vector, payload, BM25 sparse vector or None) as handed to a backend.
PointRecord = tuple[str, list[float], dict[str, Any], SparseVector | None]


class VectorStore(ABC):
    """Tenant-scoped access to the `profiles` and `purchases` collections."""

    # ---- public interface --------------------------------------------------------------------

    def ensure_collections(self, dim: int) -> None:
        """Create both collections and their payload indexes if missing (idempotent).

        Fails if an existing collection was built for a different vector size: mixing embedders
        silently would make every similarity meaningless; re-create the store and re-embed instead.
        """
        if dim <= 0:
            raise ValueError("dim must be positive")
        self._create_collections(dim)

    def upsert_profiles(self, points: Sequence[ProfilePoint]) -> None:
        """Insert or replace customer profile points (id derived from merchant + customer)."""
        if points:
            records: list[PointRecord] = [
                (p.point_id, as_vector(p.vector), p.payload(), document_vector(p.document)) for p in points
            ]
            self._upsert(PROFILES, records)

    def upsert_purchases(self, points: Sequence[PurchasePoint]) -> None:
        """Insert or replace visit points (id derived from merchant + transaction)."""
        if points:
            self._upsert(PURCHASES, [(p.point_id, as_vector(p.vector), p.payload(), None) for p in points])

    def search_profiles(
        self,
        vector: VectorLike,
        *,
        merchant_id: str,
        limit: int = 10,
        filters: ProfileFilter | None = None,
        text: str | None = None,
    ) -> list[Hit]:
        """Customers of one merchant whose profile document is closest to `vector`, best first.

        With `text` (the query `vector` was embedded from) the search is hybrid: the dense ranking and
        the BM25 ranking of the profile documents fused by reciprocal rank (see `vectorstore.sparse`);
        hit scores are then fusion scores. A text whose words appear in no document ranks as dense.
        """
        conditions = profile_conditions(merchant_id, filters)
        sparse = query_vector(text) if text else None
        if not sparse:
            return self._query(PROFILES, as_vector(vector), conditions, limit)
        return self._query_hybrid(PROFILES, as_vector(vector), sparse, conditions, limit)

    def search_profiles_by_keywords(
        self, text: str, *, merchant_id: str, limit: int = 10, filters: ProfileFilter | None = None
    ) -> list[Hit]:
        """Customers of one merchant ranked by BM25 of their profile document for `text` (only documents
        sharing a stemmed term with it; empty when none does)."""
        sparse = query_vector(text)
        if not sparse:
            return []
        return self._query_sparse(PROFILES, sparse, profile_conditions(merchant_id, filters), limit)

    def similar_customers(self, customer_id: int, *, merchant_id: str, limit: int = 10) -> list[Hit]:
        """Customers of the same merchant closest to this customer's profile vector (never itself).

        Empty when the customer has no profile point yet.
        """
        point_id = profile_point_id(merchant_id=merchant_id, customer_id=customer_id)
        vector = self._vector_of(PROFILES, point_id)
        if vector is None:
            return []
        conditions = [*tenant_conditions(merchant_id), ExcludeIds((point_id,))]
        return self._query(PROFILES, vector, conditions, limit)

    def search_purchases(
        self,
        vector: VectorLike,
        *,
        merchant_id: str,
        customer_id: int | None = None,
        limit: int = 10,
        occurred_from: datetime | None = None,
        occurred_to: datetime | None = None,
        day_parts: Sequence[str] | None = None,
    ) -> list[Hit]:
        """Visits of one merchant (optionally one customer / time window / day parts) closest to `vector`."""
        conditions = purchase_conditions(
            merchant_id,
            customer_id=customer_id,
            occurred_from=occurred_from,
            occurred_to=occurred_to,
            day_parts=day_parts,
        )
        return self._query(PURCHASES, as_vector(vector), conditions, limit)

    def customer_purchases(self, customer_id: int, *, merchant_id: str, limit: int = 20) -> list[Hit]:
        """A customer's most recent visits, newest first (no vector involved; `score` is None)."""
        return self._scroll(PURCHASES, tenant_conditions(merchant_id, customer_id), limit, "occurred_at")

    def get_profile(self, customer_id: int, *, merchant_id: str) -> Hit | None:
        """The stored profile point of one customer, or None."""
        hits = self._scroll(PROFILES, tenant_conditions(merchant_id, customer_id), 1, None)
        return hits[0] if hits else None

    def count(
        self,
        collection: CollectionName,
        *,
        merchant_id: str | None = None,
        customer_id: int | None = None,
    ) -> int:
        """Exact number of points, optionally for one merchant (and customer)."""
        if merchant_id is None:
            if customer_id is not None:
                raise ValueError("customer_id needs merchant_id")
            return self._count(collection, [])
        return self._count(collection, tenant_conditions(merchant_id, customer_id))

    def delete_customer(self, customer_id: int, *, merchant_id: str) -> None:
        """Erase a customer's profile and all their visit points (right to erasure, re-pseudonymization)."""
        conditions = tenant_conditions(merchant_id, customer_id)
        self._delete(PROFILES, conditions)
        self._delete(PURCHASES, conditions)

    def delete_purchases(self, transaction_ids: Sequence[int], *, merchant_id: str) -> None:
        """Remove visit points, e.g. for a voided or refunded transaction."""
        if transaction_ids:
            ids = tuple(purchase_point_id(merchant_id=merchant_id, transaction_id=t) for t in transaction_ids)
            self._delete(PURCHASES, [*tenant_conditions(merchant_id), HasIds(ids)])

    @abstractmethod
    def optimize(self) -> None:
        """Persist pending writes and build indexes; call from batch jobs, not per transaction."""

    @abstractmethod
    def close(self) -> None:
        """Flush and release files/connections; the instance is unusable afterwards."""

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- backend primitives ------------------------------------------------------------------

    @abstractmethod
    def _create_collections(self, dim: int) -> None: ...

    @abstractmethod
    def _upsert(self, collection: CollectionName, records: list[PointRecord]) -> None: ...

    @abstractmethod
    def _query(
        self, collection: CollectionName, vector: list[float], conditions: list[Condition], limit: int
    ) -> list[Hit]: ...

    @abstractmethod
    def _query_sparse(
        self, collection: CollectionName, sparse: SparseVector, conditions: list[Condition], limit: int
    ) -> list[Hit]: ...

    @abstractmethod
    def _query_hybrid(
        self,
        collection: CollectionName,
        vector: list[float],
        sparse: SparseVector,
        conditions: list[Condition],
        limit: int,
    ) -> list[Hit]:
        """Dense and sparse candidates (`sparse.candidates_for(limit)` each) fused by RRF (k = RRF_K)."""

    @abstractmethod
    def _scroll(
        self, collection: CollectionName, conditions: list[Condition], limit: int, newest_first_by: str | None
    ) -> list[Hit]: ...

    @abstractmethod
    def _vector_of(self, collection: CollectionName, point_id: str) -> list[float] | None: ...

    @abstractmethod
    def _count(self, collection: CollectionName, conditions: list[Condition]) -> int: ...

    @abstractmethod
    def _delete(self, collection: CollectionName, conditions: list[Condition]) -> None: ...
