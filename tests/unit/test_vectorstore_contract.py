"""One contract for the vector store backends: the embedded engine (tmp dir), qdrant-client :memory:, and the
embedded engine reached from another process through its owner's service (vectorstore.service).

Vectors come from the HashingEmbedder (deterministic, no torch), which is enough to check ranking,
tenant isolation, filters, idempotent upserts and deletion.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vectorstore.client_backend import ClientVectorStore
from vectorstore.edge_backend import EdgeVectorStore
from vectorstore.embeddings import HashingEmbedder
from vectorstore.points import PROFILES, PURCHASES, ProfileFilter, ProfilePoint, PurchasePoint
from vectorstore.service import RemoteVectorStore, VectorService, service_address
from vectorstore.store import VectorStore

EMBEDDER = HashingEmbedder(dim=64)
T0 = datetime(2026, 1, 10, 19, 30, tzinfo=UTC)  # a Saturday

DOCS = {
    1: "weekend dinner regular red wine steak dessert",
    2: "weekday brunch pancakes kids menu coffee",
    3: "weekend dinner red wine steak cocktails",
    4: "lunch salad sparkling water",
}


def vec(text: str) -> list[float]:
    return EMBEDDER.embed([text])[0].tolist()


def profile(customer_id: int, *, merchant_id: str = "m_a", doc: str | None = None, **features: object) -> ProfilePoint:
    document = doc if doc is not None else DOCS[customer_id]
    return ProfilePoint(
        merchant_id=merchant_id,
        customer_id=customer_id,
        pseudonym=f"g_{merchant_id}_{customer_id}",
        document=document,
        vector=vec(document),
        **features,  # type: ignore[arg-type]
    )


def purchase(transaction_id: int, customer_id: int, doc: str, *, merchant_id: str = "m_a", days_ago: int = 0,
             day_part: str = "dinner") -> PurchasePoint:
    return PurchasePoint(
        merchant_id=merchant_id,
        customer_id=customer_id,
        transaction_id=transaction_id,
        pseudonym=f"g_{merchant_id}_{customer_id}",
        occurred_at=T0 - timedelta(days=days_ago),
        day_part=day_part,
        document=doc,
        vector=vec(doc),
        skus=["SKU-1"],
        categories=["mains"],
        total_cents=4200,
    )


@pytest.fixture(params=["edge", "client_memory", "remote_edge"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    if request.param == "remote_edge":  # another process's view of an owner's engine (vectorstore.service)
        owner = EdgeVectorStore(tmp_path / "qdrant")
        owner.ensure_collections(EMBEDDER.dim)
        address, key = service_address(tmp_path), b"contract-test-key"
        service = VectorService(owner, EMBEDDER, address=address, authkey=key).start()
        remote = RemoteVectorStore(address, key)
        yield remote
        remote.close()
        service.stop()
        owner.close()
        return
    backend: VectorStore = (
        EdgeVectorStore(tmp_path / "qdrant") if request.param == "edge" else ClientVectorStore.in_memory()
    )
    backend.ensure_collections(EMBEDDER.dim)
    yield backend
    backend.close()


@pytest.fixture
def loaded(store: VectorStore) -> VectorStore:
    store.upsert_profiles(
        [
            profile(1, tier="gold", visits_12m=20, spend_12m_cents=150_000, churn_risk=0.1,
                    favourite_categories=["wine", "mains"]),
            profile(2, tier="standard", visits_12m=4, spend_12m_cents=20_000, churn_risk=0.7, lapsed=True,
                    favourite_categories=["brunch", "kids"]),
            profile(3, tier="silver", visits_12m=9, spend_12m_cents=90_000, churn_risk=0.8, lapsed=True,
                    favourite_categories=["wine", "cocktails"]),
            profile(4, tier="standard", visits_12m=2, spend_12m_cents=5_000, churn_risk=0.4,
                    favourite_categories=["salads"]),
            # Same customer ids and identical documents under another merchant: must never leak.
            profile(1, merchant_id="m_b"),
            profile(3, merchant_id="m_b"),
        ]
    )
    store.upsert_purchases(
        [
            purchase(101, 1, "ribeye steak and red wine", days_ago=30),
            purchase(102, 1, "chocolate cake dessert and port wine", days_ago=10),
            purchase(103, 1, "steak frites and red wine", days_ago=1),
            purchase(201, 2, "pancakes kids menu coffee", days_ago=5, day_part="brunch"),
            purchase(901, 1, "ribeye steak and red wine", merchant_id="m_b"),
        ]
    )
    return store


def test_search_profiles_ranks_closest_document_first(loaded: VectorStore) -> None:
    hits = loaded.search_profiles(vec("red wine steak weekend dinner"), merchant_id="m_a", limit=4)
    assert [h.customer_id for h in hits][:2] in ([1, 3], [3, 1])
    assert hits[0].score is not None and hits[-1].score is not None and hits[0].score >= hits[-1].score
    assert hits[0].pseudonym == f"g_m_a_{hits[0].customer_id}"
    assert hits[0].payload["document"] == DOCS[hits[0].customer_id]


def test_tenant_isolation(loaded: VectorStore) -> None:
    query = vec("red wine steak weekend dinner")
    hits_b = loaded.search_profiles(query, merchant_id="m_b", limit=10)
    assert {h.payload["merchant_id"] for h in hits_b} == {"m_b"}
    assert sorted(h.customer_id for h in hits_b) == [1, 3]
    assert {h.payload["merchant_id"] for h in loaded.search_profiles(query, merchant_id="m_a", limit=10)} == {"m_a"}
    assert loaded.search_profiles(query, merchant_id="m_unknown", limit=10) == []
    purchases_b = loaded.search_purchases(query, merchant_id="m_b", limit=10)
    assert [h.payload["transaction_id"] for h in purchases_b] == [901]
    assert [h.payload["transaction_id"] for h in loaded.customer_purchases(1, merchant_id="m_b")] == [901]
    with pytest.raises(ValueError, match="merchant_id"):
        loaded.search_profiles(query, merchant_id="", limit=10)


def test_upsert_is_idempotent_and_replaces(loaded: VectorStore) -> None:
    assert loaded.count(PROFILES, merchant_id="m_a") == 4
    loaded.upsert_profiles([profile(2, tier="gold", doc="now a wine lover steak dinner")])
    loaded.upsert_profiles([profile(2, tier="gold", doc="now a wine lover steak dinner")])
    assert loaded.count(PROFILES, merchant_id="m_a") == 4
    assert loaded.count(PROFILES) == 6
    stored = loaded.get_profile(2, merchant_id="m_a")
    assert stored is not None
    assert stored.payload["tier"] == "gold"
    assert stored.payload["document"] == "now a wine lover steak dinner"
    hits = loaded.search_profiles(vec("now a wine lover steak dinner"), merchant_id="m_a", limit=1)
    assert hits[0].customer_id == 2
    loaded.upsert_purchases([purchase(101, 1, "ribeye steak and red wine", days_ago=30)])
    assert loaded.count(PURCHASES, merchant_id="m_a", customer_id=1) == 3


def test_profile_filters(loaded: VectorStore) -> None:
    query = vec("anything at all")

    def ids(filters: ProfileFilter) -> list[int]:
        return sorted(h.customer_id for h in loaded.search_profiles(query, merchant_id="m_a", limit=10,
                                                                    filters=filters))

    assert ids(ProfileFilter(lapsed=True)) == [2, 3]
    assert ids(ProfileFilter(lapsed=False)) == [1, 4]
    assert ids(ProfileFilter(tiers=["gold", "silver"])) == [1, 3]
    assert ids(ProfileFilter(min_churn_risk=0.5)) == [2, 3]
    assert ids(ProfileFilter(min_churn_risk=0.3, max_churn_risk=0.75)) == [2, 4]
    assert ids(ProfileFilter(min_visits_12m=9)) == [1, 3]
    assert ids(ProfileFilter(min_spend_12m_cents=90_000)) == [1, 3]
    assert ids(ProfileFilter(favourite_categories_any=["wine"])) == [1, 3]
    assert ids(ProfileFilter(lapsed=True, min_spend_12m_cents=50_000, favourite_categories_any=["wine"])) == [3]
    hit = loaded.search_profiles(query, merchant_id="m_a", limit=1, filters=ProfileFilter(tiers=["silver"]))[0]
    assert hit.payload["lapsed"] is True  # stored as 0/1, returned as bool


def test_similar_customers_excludes_self(loaded: VectorStore) -> None:
    hits = loaded.similar_customers(1, merchant_id="m_a", limit=3)
    assert hits[0].customer_id == 3
    assert 1 not in [h.customer_id for h in hits]
    assert all(h.payload["merchant_id"] == "m_a" for h in hits)
    assert loaded.similar_customers(999, merchant_id="m_a") == []


def test_search_and_list_purchases(loaded: VectorStore) -> None:
    hits = loaded.search_purchases(vec("pancakes for the kids"), merchant_id="m_a", limit=2)
    assert hits[0].payload["transaction_id"] == 201
    assert hits[0].payload["day_part"] == "brunch"
    mine = loaded.search_purchases(vec("pancakes for the kids"), merchant_id="m_a", customer_id=1, limit=10)
    assert sorted(h.payload["transaction_id"] for h in mine) == [101, 102, 103]
    recent = loaded.search_purchases(vec("red wine"), merchant_id="m_a", limit=10,
                                     occurred_from=T0 - timedelta(days=15))
    assert sorted(h.payload["transaction_id"] for h in recent) == [102, 103, 201]
    brunch = loaded.search_purchases(vec("red wine"), merchant_id="m_a", limit=10, day_parts=["brunch"])
    assert [h.payload["transaction_id"] for h in brunch] == [201]
    history = loaded.customer_purchases(1, merchant_id="m_a", limit=2)
    assert [h.payload["transaction_id"] for h in history] == [103, 102]  # newest first
    assert all(h.score is None for h in history)
    assert history[0].payload["occurred_at"] == int((T0 - timedelta(days=1)).timestamp())
    assert history[0].payload["weekday"] == (T0 - timedelta(days=1)).weekday()


def test_delete_customer_and_purchases(loaded: VectorStore) -> None:
    loaded.delete_purchases([102], merchant_id="m_a")
    assert sorted(h.payload["transaction_id"] for h in loaded.customer_purchases(1, merchant_id="m_a")) == [101, 103]
    loaded.delete_customer(1, merchant_id="m_a")
    assert loaded.get_profile(1, merchant_id="m_a") is None
    assert loaded.count(PURCHASES, merchant_id="m_a", customer_id=1) == 0
    assert loaded.count(PROFILES, merchant_id="m_a") == 3
    # The other merchant's customer 1 is a different person and stays.
    assert loaded.get_profile(1, merchant_id="m_b") is not None
    assert loaded.count(PURCHASES, merchant_id="m_b", customer_id=1) == 1


def test_optimize_keeps_results(loaded: VectorStore) -> None:
    before = [h.customer_id for h in loaded.search_profiles(vec("red wine steak"), merchant_id="m_a", limit=4)]
    loaded.optimize()
    after = [h.customer_id for h in loaded.search_profiles(vec("red wine steak"), merchant_id="m_a", limit=4)]
    assert before == after


def test_ensure_collections_is_idempotent(loaded: VectorStore) -> None:
    loaded.ensure_collections(EMBEDDER.dim)
    assert loaded.count(PROFILES) == 6


def test_naive_datetime_rejected(store: VectorStore) -> None:
    naive = PurchasePoint(merchant_id="m_a", customer_id=1, transaction_id=1, pseudonym="g", document="x",
                          occurred_at=datetime(2026, 1, 1), day_part="lunch", vector=vec("x"))  # noqa: DTZ001
    with pytest.raises(ValueError, match="timezone"):
        store.upsert_purchases([naive])


def test_edge_store_persists_across_reopen(tmp_path: Path) -> None:
    root = tmp_path / "qdrant"
    first = EdgeVectorStore(root)
    first.ensure_collections(EMBEDDER.dim)
    first.upsert_profiles([profile(1), profile(2, lapsed=True)])
    first.upsert_purchases([purchase(101, 1, "ribeye steak and red wine")])
    first.close()

    second = EdgeVectorStore(root)
    second.ensure_collections(EMBEDDER.dim)
    try:
        assert second.count(PROFILES, merchant_id="m_a") == 2
        assert second.count(PURCHASES, merchant_id="m_a") == 1
        hits = second.search_profiles(vec(DOCS[2]), merchant_id="m_a", limit=1,
                                      filters=ProfileFilter(lapsed=True))
        assert hits[0].customer_id == 2
        assert [h.customer_id for h in second.similar_customers(1, merchant_id="m_a")] == [2]
    finally:
        second.close()


def test_edge_store_rejects_other_dimension(tmp_path: Path) -> None:
    root = tmp_path / "qdrant"
    first = EdgeVectorStore(root)
    first.ensure_collections(EMBEDDER.dim)
    first.upsert_profiles([profile(1)])
    first.close()
    second = EdgeVectorStore(root)
    with pytest.raises(ValueError, match="dim"):
        second.ensure_collections(EMBEDDER.dim * 2)
    second.close()


def test_client_store_rejects_other_dimension() -> None:
    client_store = ClientVectorStore.in_memory()
    client_store.ensure_collections(16)
    with pytest.raises(ValueError, match="vector size"):
        client_store.ensure_collections(32)
    client_store.close()


def test_closed_edge_store_refuses_use(tmp_path: Path) -> None:
    edge = EdgeVectorStore(tmp_path / "qdrant")
    edge.ensure_collections(EMBEDDER.dim)
    edge.close()
    with pytest.raises(RuntimeError, match="closed"):
        edge.count(PROFILES)


def test_get_vector_store_picks_backend_and_caches(tmp_path: Path) -> None:
    from core.settings import Settings
    from vectorstore.factory import close_vector_stores, get_vector_store

    close_vector_stores()  # a process-wide ":memory:" store left by an earlier test may hold another dimension
    try:
        edge = get_vector_store(Settings(data_dir=tmp_path), dim=EMBEDDER.dim)
        assert isinstance(edge, EdgeVectorStore)
        assert edge.root == tmp_path / "qdrant"
        assert get_vector_store(Settings(data_dir=tmp_path)) is edge
        edge.upsert_profiles([profile(1)])
        assert edge.count(PROFILES) == 1
        client = get_vector_store(Settings(data_dir=tmp_path, qdrant_url=":memory:"), dim=EMBEDDER.dim)
        assert isinstance(client, ClientVectorStore)
    finally:
        close_vector_stores()
    with pytest.raises(RuntimeError, match="closed"):
        edge.count(PROFILES)


def test_edge_store_concurrent_reads_during_writes(tmp_path: Path) -> None:
    """API threads search while the worker upserts: no errors, and every read sees a consistent tenant."""
    from concurrent.futures import ThreadPoolExecutor

    edge = EdgeVectorStore(tmp_path / "qdrant")
    edge.ensure_collections(EMBEDDER.dim)
    try:
        edge.upsert_profiles([profile(c) for c in DOCS])

        def read(_: int) -> set[str]:
            merchants: set[str] = set()
            for _round in range(20):
                merchants |= {h.payload["merchant_id"] for h in edge.search_profiles(vec("wine"), merchant_id="m_a")}
            return merchants

        with ThreadPoolExecutor(max_workers=3) as pool:
            readers = [pool.submit(read, i) for i in range(3)]
            for customer_id in range(100, 160):
                edge.upsert_profiles([profile(customer_id, doc=f"guest {customer_id} wine")])
                edge.upsert_profiles([profile(customer_id, merchant_id="m_b", doc="wine")])
            assert all(r.result() == {"m_a"} for r in readers)
        assert edge.count(PROFILES, merchant_id="m_a") == len(DOCS) + 60
    finally:
        edge.close()
