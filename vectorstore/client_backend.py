"""`ClientVectorStore`: a Qdrant server (or cluster) through `qdrant-client`, for scale-out.

Same collections, payload layout, tenant key and HNSW settings as the embedded engine. Selected by
`QDRANT_URL`; `ClientVectorStore.in_memory()` (qdrant-client's pure-Python local mode) exists so the
contract suite can exercise this backend without a server. Local mode ignores payload indexes and
scans every point on each query: it is a test double, not a deployment option.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from qdrant_client import QdrantClient, models

import vectorstore.tuning as tuning
from vectorstore.points import (
    COLLECTIONS,
    PAYLOAD_INDEXES,
    SPARSE_COLLECTIONS,
    CollectionName,
    Condition,
    ExcludeIds,
    HasIds,
    Hit,
    Match,
    MatchAny,
    Range,
    hit_from,
)
from vectorstore.sparse import RRF_K, SPARSE_VECTOR, SparseVector, candidates_for
from vectorstore.store import PointRecord, VectorStore

log = logging.getLogger(__name__)


def _field_condition(condition: Match | MatchAny | Range) -> models.FieldCondition:
    if isinstance(condition, Match):
        return models.FieldCondition(key=condition.key, match=models.MatchValue(value=condition.value))
    if isinstance(condition, MatchAny):
        return models.FieldCondition(key=condition.key, match=models.MatchAny(any=list(condition.values)))
    return models.FieldCondition(key=condition.key, range=models.Range(gte=condition.gte, lte=condition.lte))


def to_client_filter(conditions: list[Condition]) -> models.Filter | None:
    """Translate the shared condition vocabulary into a qdrant-client filter (None when unfiltered)."""
    must: list[Any] = []
    must_not: list[Any] = []
    for condition in conditions:
        if isinstance(condition, ExcludeIds):
            must_not.append(models.HasIdCondition(has_id=list(condition.point_ids)))
        elif isinstance(condition, HasIds):
            must.append(models.HasIdCondition(has_id=list(condition.point_ids)))
        else:
            must.append(_field_condition(condition))
    if not must and not must_not:
        return None
    return models.Filter(must=must or None, must_not=must_not or None)


def _client_sparse(sparse: SparseVector) -> models.SparseVector:
    return models.SparseVector(indices=list(sparse.indices), values=list(sparse.values))


SEARCH_PARAMS = models.SearchParams(
    hnsw_ef=tuning.HNSW_EF_SEARCH,
    acorn=models.AcornSearchParams(enable=True, max_selectivity=tuning.ACORN_MAX_SELECTIVITY),
)


def _index_schema(kind: str) -> Any:
    if kind == "tenant":
        return models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True)
    if kind == "keyword":
        return models.PayloadSchemaType.KEYWORD
    if kind == "integer":
        return models.IntegerIndexParams(type=models.IntegerIndexType.INTEGER, lookup=True, range=True)
    if kind == "float":
        return models.PayloadSchemaType.FLOAT
    raise ValueError(f"unknown payload index kind {kind!r}")


class ClientVectorStore(VectorStore):
    """Vector store on a Qdrant server via qdrant-client (or its in-memory local mode for tests)."""

    def __init__(self, client: QdrantClient, *, local_mode: bool) -> None:
        self._client = client
        self._local_mode = local_mode

    @classmethod
    def connect(cls, url: str, *, api_key: str | None = None, timeout_s: int = 10) -> ClientVectorStore:
        """A server store; the API key defaults to `QDRANT_API_KEY` from the environment."""
        client = QdrantClient(url=url, api_key=api_key or os.environ.get("QDRANT_API_KEY"), timeout=timeout_s)
        return cls(client, local_mode=False)

    @classmethod
    def in_memory(cls) -> ClientVectorStore:
        """qdrant-client local mode in memory (tests, comparison benchmark)."""
        return cls(QdrantClient(location=":memory:"), local_mode=True)

    def _create_collections(self, dim: int) -> None:
        for collection in COLLECTIONS:
            sparse = collection in SPARSE_COLLECTIONS
            if self._client.collection_exists(collection):
                self._check_dim(collection, dim)
                if sparse and SPARSE_VECTOR not in (self._client.get_collection(collection).config.params
                                                    .sparse_vectors or {}):
                    # Built before hybrid search: vectors are derived data, so rebuild rather than refuse.
                    log.warning("collection %s predates hybrid search; recreated empty, re-index it", collection)
                    self._client.delete_collection(collection)
            if not self._client.collection_exists(collection):
                self._client.create_collection(
                    collection_name=collection,
                    vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE),
                    sparse_vectors_config={SPARSE_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)}
                    if sparse else None,
                    hnsw_config=models.HnswConfigDiff(
                        m=tuning.HNSW_M,
                        ef_construct=tuning.HNSW_EF_CONSTRUCT,
                        full_scan_threshold=tuning.FULL_SCAN_THRESHOLD_KB,
                        payload_m=tuning.HNSW_PAYLOAD_M,
                    ),
                    optimizers_config=models.OptimizersConfigDiff(
                        indexing_threshold=tuning.INDEXING_THRESHOLD_KB
                    ),
                )
            if not self._local_mode:  # local mode has no payload indexes (and warns on each)
                for field_name, kind in PAYLOAD_INDEXES[collection].items():
                    self._client.create_payload_index(
                        collection_name=collection, field_name=field_name, field_schema=_index_schema(kind)
                    )

    def _check_dim(self, collection: CollectionName, dim: int) -> None:
        vectors = self._client.get_collection(collection).config.params.vectors
        size = vectors.size if isinstance(vectors, models.VectorParams) else None
        if size != dim:
            raise ValueError(f"collection {collection!r} has vector size {size}, expected {dim}")

    def _upsert(self, collection: CollectionName, records: list[PointRecord]) -> None:
        points = [
            models.PointStruct(id=point_id, vector={"": vector, SPARSE_VECTOR: _client_sparse(sparse)} if sparse
                               else vector, payload=payload)
            for point_id, vector, payload, sparse in records
        ]
        self._client.upsert(collection_name=collection, points=points, wait=True)

    def _query(
        self, collection: CollectionName, vector: list[float], conditions: list[Condition], limit: int
    ) -> list[Hit]:
        response = self._client.query_points(
            collection_name=collection,
            query=vector,
            query_filter=to_client_filter(conditions),
            limit=limit,
            with_payload=True,
            # Local mode is always exact and warns about search params.
            search_params=None if self._local_mode else SEARCH_PARAMS,
        )
        return [hit_from(p.id, p.score, p.payload) for p in response.points]

    def _query_sparse(
        self, collection: CollectionName, sparse: SparseVector, conditions: list[Condition], limit: int
    ) -> list[Hit]:
        response = self._client.query_points(
            collection_name=collection,
            query=_client_sparse(sparse),
            using=SPARSE_VECTOR,
            query_filter=to_client_filter(conditions),
            limit=limit,
            with_payload=True,
        )
        return [hit_from(p.id, p.score, p.payload) for p in response.points]

    def _query_hybrid(
        self,
        collection: CollectionName,
        vector: list[float],
        sparse: SparseVector,
        conditions: list[Condition],
        limit: int,
    ) -> list[Hit]:
        client_filter = to_client_filter(conditions)
        candidates = candidates_for(limit)
        response = self._client.query_points(
            collection_name=collection,
            prefetch=[
                models.Prefetch(query=vector, filter=client_filter, limit=candidates,
                                params=None if self._local_mode else SEARCH_PARAMS),
                models.Prefetch(query=_client_sparse(sparse), using=SPARSE_VECTOR, filter=client_filter,
                                limit=candidates),
            ],
            query=models.RrfQuery(rrf=models.Rrf(k=RRF_K)),
            limit=limit,
            with_payload=True,
        )
        return [hit_from(p.id, p.score, p.payload) for p in response.points]

    def _scroll(
        self, collection: CollectionName, conditions: list[Condition], limit: int, newest_first_by: str | None
    ) -> list[Hit]:
        order_by = (
            models.OrderBy(key=newest_first_by, direction=models.Direction.DESC) if newest_first_by else None
        )
        records, _next_offset = self._client.scroll(
            collection_name=collection,
            scroll_filter=to_client_filter(conditions),
            limit=limit,
            order_by=order_by,
            with_payload=True,
        )
        return [hit_from(r.id, None, r.payload) for r in records]

    def _vector_of(self, collection: CollectionName, point_id: str) -> list[float] | None:
        records = self._client.retrieve(
            collection_name=collection, ids=[point_id], with_payload=False, with_vectors=True
        )
        if not records or records[0].vector is None:
            return None
        vector: Any = records[0].vector
        if isinstance(vector, dict):
            vector = vector.get("")
        return [float(x) for x in vector] if isinstance(vector, list) else None

    def _count(self, collection: CollectionName, conditions: list[Condition]) -> int:
        return self._client.count(
            collection_name=collection, count_filter=to_client_filter(conditions), exact=True
        ).count

    def _delete(self, collection: CollectionName, conditions: list[Condition]) -> None:
        client_filter = to_client_filter(conditions)
        if client_filter is None:
            raise ValueError("refusing to delete without a filter")
        self._client.delete(
            collection_name=collection,
            points_selector=models.FilterSelector(filter=client_filter),
            wait=True,
        )

    def optimize(self, *, timeout_s: float = 600.0) -> None:
        """Wait until the server's background optimizers have indexed both collections.

        The server builds HNSW by itself once a segment passes the indexing threshold; this only
        blocks until the collections report green, so a batch job can tell when queries are fast.
        """
        if self._local_mode:
            return
        deadline = time.monotonic() + timeout_s
        for collection in COLLECTIONS:
            while self._client.get_collection(collection).status != models.CollectionStatus.GREEN:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"collection {collection!r} still optimizing after {timeout_s} s")
                time.sleep(0.5)

    def close(self) -> None:
        self._client.close()
