"""`EdgeVectorStore`: the embedded Qdrant engine (`qdrant-edge-py`), the default backend.

Each collection is one Edge shard directory under the store root (`DATA_DIR/qdrant/profiles`,
`DATA_DIR/qdrant/purchases`). The engine runs in-process: no server, no network hop, ~1 ms filtered
queries at 20k points where qdrant-client's local mode (pure Python) takes hundreds of ms.

Writes go to the write-ahead log and an appendable plain segment, so a per-transaction upsert is
cheap and immediately searchable (brute force over the not-yet-indexed points). HNSW graphs are built
only by `optimize()`, which the engine never runs by itself: call it from the batch job after bulk
loads, not per transaction (see `vectorstore.tuning` for the settings and the measurements).

The shard objects are used from several threads (API handlers, worker); writes and lifecycle calls
are serialised with a lock, reads are not (the engine synchronises its segments internally).
"""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path
from typing import Any

import qdrant_edge as qe

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


def _field_condition(condition: Match | MatchAny | Range) -> qe.FieldCondition:
    if isinstance(condition, Match):
        return qe.FieldCondition(condition.key, match=qe.MatchValue(condition.value))
    if isinstance(condition, MatchAny):
        return qe.FieldCondition(condition.key, match=qe.MatchAny(list(condition.values)))
    return qe.FieldCondition(condition.key, range=qe.RangeFloat(gte=condition.gte, lte=condition.lte))


def to_edge_filter(conditions: list[Condition]) -> qe.Filter | None:
    """Translate the shared condition vocabulary into an Edge filter (None when unfiltered)."""
    must: list[Any] = []
    must_not: list[Any] = []
    for condition in conditions:
        if isinstance(condition, ExcludeIds):
            must_not.append(qe.HasIdCondition(set(condition.point_ids)))
        elif isinstance(condition, HasIds):
            must.append(qe.HasIdCondition(set(condition.point_ids)))
        else:
            must.append(_field_condition(condition))
    if not must and not must_not:
        return None
    return qe.Filter(must=must or None, must_not=must_not or None)


def _index_schema(kind: str) -> Any:
    if kind == "tenant":
        # is_tenant: the engine co-locates each merchant's points in storage, so a tenant-filtered
        # query reads one merchant's data, not the whole collection.
        return qe.KeywordIndexParams(is_tenant=True)
    if kind == "keyword":
        return qe.PayloadSchemaType.Keyword
    if kind == "integer":
        # range=True is needed for occurred_at windows and for ordering scrolls by it.
        return qe.IntegerIndexParams(lookup=True, range=True)
    if kind == "float":
        return qe.PayloadSchemaType.Float
    raise ValueError(f"unknown payload index kind {kind!r}")


def _search_params() -> qe.SearchParams:
    return qe.SearchParams(
        hnsw_ef=tuning.HNSW_EF_SEARCH,
        acorn=qe.AcornSearchParams(enable=True, max_selectivity=tuning.ACORN_MAX_SELECTIVITY),
    )


def _edge_sparse(sparse: SparseVector) -> qe.SparseVector:
    return qe.SparseVector(list(sparse.indices), list(sparse.values))


def _predates_sparse(path: Path, dim: int) -> bool:
    """Whether the shard at `path` opens with the dense-only configuration (built before hybrid search)."""
    try:
        qe.EdgeShard.load(str(path), edge_config(dim, sparse=False)).close()
    except Exception:
        return False
    return True


def edge_config(dim: int, *, sparse: bool = False) -> qe.EdgeConfig:
    """Shard configuration: cosine vectors of `dim` (plus, with `sparse`, the BM25 sparse vector with
    Qdrant's IDF modifier), HNSW/optimizer settings from `tuning`."""
    return qe.EdgeConfig(
        vectors=qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine),
        sparse_vectors={SPARSE_VECTOR: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)} if sparse else None,
        hnsw_config=qe.HnswIndexConfig(
            m=tuning.HNSW_M,
            ef_construct=tuning.HNSW_EF_CONSTRUCT,
            full_scan_threshold=tuning.FULL_SCAN_THRESHOLD_KB,
            payload_m=tuning.HNSW_PAYLOAD_M,
        ),
        optimizers=qe.EdgeOptimizersConfig(indexing_threshold=tuning.INDEXING_THRESHOLD_KB),
    )


class EdgeVectorStore(VectorStore):
    """Vector store on the embedded Qdrant engine, persisted under `root`."""

    def __init__(self, root: Path | str) -> None:
        self._root = Path(root)
        self._shards: dict[CollectionName, qe.EdgeShard] = {}
        self._lock = threading.RLock()
        self._closed = False

    @property
    def root(self) -> Path:
        return self._root

    def _shard(self, collection: CollectionName) -> qe.EdgeShard:
        shard = self._shards.get(collection)
        if shard is None:
            if self._closed:
                raise RuntimeError("vector store is closed")
            raise RuntimeError(f"collection {collection!r} not open: call ensure_collections(dim) first")
        return shard

    def _create_collections(self, dim: int) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("vector store is closed")
            for collection in COLLECTIONS:
                if collection not in self._shards:
                    self._shards[collection] = self._open_shard(self._root / collection, dim,
                                                                sparse=collection in SPARSE_COLLECTIONS)
                self._ensure_payload_indexes(collection)

    @staticmethod
    def _open_shard(path: Path, dim: int, *, sparse: bool) -> qe.EdgeShard:
        config = edge_config(dim, sparse=sparse)
        if path.is_dir() and any(path.iterdir()):
            try:
                # Passing the config makes the engine validate the stored vector size against `dim`.
                return qe.EdgeShard.load(str(path), config)
            except Exception as exc:
                if not (sparse and _predates_sparse(path, dim)):
                    raise ValueError(f"cannot open vector collection at {path} with dim={dim}: {exc}") from exc
                # Built before hybrid search: vectors are derived data, so rebuild rather than refuse to
                # start; `serve` re-indexes an empty profiles collection (or run `loyalty-agent reindex`).
                log.warning("vector collection %s predates hybrid search; recreated empty, re-index it", path)
                shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)
        return qe.EdgeShard.create(str(path), config)

    def _ensure_payload_indexes(self, collection: CollectionName) -> None:
        shard = self._shards[collection]
        existing = set(shard.info().payload_schema)
        for field_name, kind in PAYLOAD_INDEXES[collection].items():
            if field_name not in existing:
                shard.update(qe.UpdateOperation.create_field_index(field_name, _index_schema(kind)))

    def _upsert(self, collection: CollectionName, records: list[PointRecord]) -> None:
        points = [
            qe.Point(point_id, {"": vector, SPARSE_VECTOR: _edge_sparse(sparse)} if sparse else vector, payload)
            for point_id, vector, payload, sparse in records
        ]
        with self._lock:
            self._shard(collection).update(qe.UpdateOperation.upsert_points(points))

    def _query(
        self, collection: CollectionName, vector: list[float], conditions: list[Condition], limit: int
    ) -> list[Hit]:
        request = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(vector),
            filter=to_edge_filter(conditions),
            with_payload=True,
            params=_search_params(),
        )
        return [hit_from(p.id, p.score, p.payload) for p in self._shard(collection).query(request)]

    def _query_sparse(
        self, collection: CollectionName, sparse: SparseVector, conditions: list[Condition], limit: int
    ) -> list[Hit]:
        request = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(_edge_sparse(sparse), using=SPARSE_VECTOR),
            filter=to_edge_filter(conditions),
            with_payload=True,
        )
        return [hit_from(p.id, p.score, p.payload) for p in self._shard(collection).query(request)]

    def _query_hybrid(
        self,
        collection: CollectionName,
        vector: list[float],
        sparse: SparseVector,
        conditions: list[Condition],
        limit: int,
    ) -> list[Hit]:
        edge_filter = to_edge_filter(conditions)
        candidates = candidates_for(limit)
        request = qe.QueryRequest(
            limit=limit,
            prefetches=[
                qe.Prefetch(candidates, query=qe.Query.Nearest(vector), filter=edge_filter, params=_search_params()),
                qe.Prefetch(candidates, query=qe.Query.Nearest(_edge_sparse(sparse), using=SPARSE_VECTOR),
                            filter=edge_filter),
            ],
            query=qe.Fusion.Rrf(k=RRF_K),  # type: ignore[arg-type]  # a Fusion variant; the stub names the base
            with_payload=True,
        )
        return [hit_from(p.id, p.score, p.payload) for p in self._shard(collection).query(request)]

    def _scroll(
        self, collection: CollectionName, conditions: list[Condition], limit: int, newest_first_by: str | None
    ) -> list[Hit]:
        order_by = qe.OrderBy(newest_first_by, direction=qe.Direction.Desc) if newest_first_by else None
        request = qe.ScrollRequest(
            limit=limit, filter=to_edge_filter(conditions), with_payload=True, order_by=order_by
        )
        records, _next_offset = self._shard(collection).scroll(request)
        return [hit_from(r.id, None, r.payload) for r in records]

    def _vector_of(self, collection: CollectionName, point_id: str) -> list[float] | None:
        records = self._shard(collection).retrieve([point_id], with_payload=False, with_vector=True)
        if not records or records[0].vector is None:
            return None
        vector: Any = records[0].vector
        if isinstance(vector, dict):  # named vectors: ours is the default, unnamed one
            vector = vector.get("")
        return [float(x) for x in vector] if isinstance(vector, list) else None

    def _count(self, collection: CollectionName, conditions: list[Condition]) -> int:
        return self._shard(collection).count(qe.CountRequest(exact=True, filter=to_edge_filter(conditions)))

    def _delete(self, collection: CollectionName, conditions: list[Condition]) -> None:
        edge_filter = to_edge_filter(conditions)
        if edge_filter is None:
            raise ValueError("refusing to delete without a filter")
        with self._lock:
            self._shard(collection).update(qe.UpdateOperation.delete_points_by_filter(edge_filter))

    def optimize(self) -> None:
        """Build HNSW graphs / merge segments for both collections, then flush. Blocking."""
        with self._lock:
            for shard in self._shards.values():
                shard.optimize()
                shard.flush()

    def flush(self) -> None:
        with self._lock:
            for shard in self._shards.values():
                shard.flush()

    def segment_info(self, collection: CollectionName) -> dict[str, int]:
        """Segments / points / HNSW-indexed vectors of one collection (benchmarks, health checks)."""
        info = self._shard(collection).info()
        return {
            "segments": info.segments_count,
            "points": info.points_count,
            "indexed_vectors": info.indexed_vectors_count,
        }

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            shards, self._shards = self._shards, {}
            for shard in shards.values():
                shard.flush()
                shard.close()
