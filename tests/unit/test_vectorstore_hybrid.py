"""Hybrid profile search (dense + BM25 sparse, fused by reciprocal rank) on both backends.

The dense side uses an embedder that knows nothing about words (every document gets a vector that
ranks them in a fixed order), so anything the hybrid ranking gets right beyond that order comes from
the BM25 side, and a query sharing no word with any document must rank exactly as dense does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vectorstore.client_backend import ClientVectorStore
from vectorstore.edge_backend import EdgeVectorStore, edge_config
from vectorstore.points import ProfileFilter, ProfilePoint
from vectorstore.sparse import document_vector, query_vector
from vectorstore.store import VectorStore

DIM = 4
DOCS = {
    1: "Regular guest. Weekday lunch. Orders the club sandwich.",
    2: "Wine lover. Orders red wine with dinner on weekends.",
    3: "Family with kids. Weekend brunch, pancakes and orange juice.",
    4: "Dessert lover. Always orders the chocolate lava cake.",
    5: "Lapsed high spender. Orders ribeye steaks and red wine.",
}
# Dense vectors that rank documents 1 > 2 > 3 > 4 > 5 for the fixed query vector, whatever the text.
DENSE = {cid: [1.0, 0.1 * cid, 0.0, 0.0] for cid in DOCS}
QUERY = [1.0, 0.0, 0.0, 0.0]


def profile(customer_id: int, *, merchant_id: str = "m_a", lapsed: bool = False) -> ProfilePoint:
    return ProfilePoint(merchant_id=merchant_id, customer_id=customer_id, pseudonym=f"g_{merchant_id}_{customer_id}",
                        document=DOCS[customer_id], vector=DENSE[customer_id], lapsed=lapsed)


@pytest.fixture(params=["edge", "client_memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    backend: VectorStore = (
        EdgeVectorStore(tmp_path / "qdrant") if request.param == "edge" else ClientVectorStore.in_memory()
    )
    backend.ensure_collections(DIM)
    backend.upsert_profiles([profile(cid, lapsed=cid == 5) for cid in DOCS])
    backend.upsert_profiles([profile(5, merchant_id="m_b")])  # the same words under another merchant
    yield backend
    backend.close()


def ids(hits: list) -> list[int]:  # type: ignore[type-arg]
    return [hit.customer_id for hit in hits]


def test_sparse_vectors_are_stemmed_bm25_terms() -> None:
    assert query_vector("wine lovers")
    assert set(query_vector("wine lovers").indices) <= set(document_vector(DOCS[2]).indices)
    assert not query_vector("the and of")  # stopwords only: no terms


def test_keyword_search_is_bm25_over_the_documents(store: VectorStore) -> None:
    assert ids(store.search_profiles_by_keywords("ribeye steak", merchant_id="m_a")) == [5]
    assert ids(store.search_profiles_by_keywords("red wine", merchant_id="m_a", limit=5)) == [2, 5]
    assert store.search_profiles_by_keywords("oenophiles", merchant_id="m_a") == []
    assert ids(store.search_profiles_by_keywords("ribeye", merchant_id="m_b")) == [5]  # tenant-scoped
    assert store.search_profiles_by_keywords("ribeye", merchant_id="m_c") == []


def test_hybrid_lifts_keyword_matches_above_the_dense_order(store: VectorStore) -> None:
    dense = ids(store.search_profiles(QUERY, merchant_id="m_a", limit=5))
    assert dense == [1, 2, 3, 4, 5]
    hybrid = store.search_profiles(QUERY, merchant_id="m_a", limit=5, text="ribeye steaks")
    # 5 is last for dense but the only BM25 match: 1/(k+5) + 1/(k+1) beats the 1/(k+1) of 1 alone.
    assert ids(hybrid) == [5, 1, 2, 3, 4]
    assert hybrid[0].score is not None and hybrid[1].score is not None and hybrid[0].score > hybrid[1].score


def test_hybrid_without_shared_words_ranks_as_dense(store: VectorStore) -> None:
    dense = ids(store.search_profiles(QUERY, merchant_id="m_a", limit=5))
    assert ids(store.search_profiles(QUERY, merchant_id="m_a", limit=5, text="oenophiles")) == dense


def test_hybrid_keeps_filters_and_tenants(store: VectorStore) -> None:
    lapsed = store.search_profiles(QUERY, merchant_id="m_a", limit=5, text="red wine",
                                   filters=ProfileFilter(lapsed=True))
    assert ids(lapsed) == [5]
    assert {h.payload["merchant_id"] for h in store.search_profiles(QUERY, merchant_id="m_b", limit=5,
                                                                    text="red wine")} == {"m_b"}


def test_a_profiles_collection_from_before_hybrid_search_is_rebuilt(tmp_path: Path) -> None:
    import qdrant_edge as qe

    legacy = tmp_path / "qdrant" / "profiles"
    legacy.mkdir(parents=True)
    shard = qe.EdgeShard.create(str(legacy), edge_config(DIM, sparse=False))
    shard.update(qe.UpdateOperation.upsert_points([qe.Point("00000000-0000-0000-0000-000000000001",
                                                            [1.0, 0.0, 0.0, 0.0], {"merchant_id": "m_a"})]))
    shard.flush()
    shard.close()
    store = EdgeVectorStore(tmp_path / "qdrant")
    store.ensure_collections(DIM)
    assert store.count("profiles") == 0  # rebuilt empty: `serve` re-indexes it
    store.upsert_profiles([profile(2)])
    assert ids(store.search_profiles_by_keywords("wine", merchant_id="m_a")) == [2]
    store.close()
    with pytest.raises(ValueError, match="dim=8"):
        EdgeVectorStore(tmp_path / "qdrant").ensure_collections(8)  # a wrong size still refuses
