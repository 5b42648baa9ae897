"""Vector store benchmark: per-transaction profile update + upsert, semantic search latency at scale,
index build time, and the same queries on qdrant-client's `:memory:` mode for comparison.

    python -m benchmarks.vectors                      # ~20k customers, a few minutes on 2 cores
    python -m benchmarks.vectors --customers 100000   # the issue's figure (optimize takes minutes)

How the scale part is made honest without embedding 100k documents (MiniLM does ~150-200 docs/s on
2 cores; the measured rate and the extrapolated full-embedding time are printed): a pool of distinct
synthetic profile documents is embedded with the real model, and each customer's vector is a noisy
mix of two pool vectors, re-normalised. The customer vectors therefore live in the real embedding
space with its real cluster structure (unlike uniform random vectors, which make HNSW look worse
and brute force look better than they are), and the queries are real embedded segment queries.

The per-transaction path uses the real features (`profiles.features.compute_features`), a plain profile
document, and the real embedder.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from profiles.features import compute_features
from profiles.visits import Visit, VisitLine
from vectorstore import tuning
from vectorstore.client_backend import ClientVectorStore
from vectorstore.edge_backend import EdgeVectorStore
from vectorstore.embeddings import LocalEmbedder, l2_normalise
from vectorstore.points import ProfileFilter, ProfilePoint, PurchasePoint
from vectorstore.store import VectorStore

MERCHANT = "m_bench"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

MENU: dict[str, list[tuple[str, str, int]]] = {
    "mains": [("RIBEYE", "Ribeye steak", 3800), ("SALMON", "Grilled salmon", 2600), ("BURGER", "Burger", 1800)],
    "wine": [("CAB-GL", "Cabernet Sauvignon glass", 1400), ("MALBEC-GL", "Malbec glass", 1300)],
    "cocktails": [("NEGRONI", "Negroni", 1500), ("SPRITZ", "Aperol spritz", 1300)],
    "desserts": [("TIRAMISU", "Tiramisu", 900), ("LAVA", "Chocolate lava cake", 1000)],
    "brunch": [("PANCAKES", "Buttermilk pancakes", 1400), ("BENEDICT", "Eggs Benedict", 1600)],
    "kids": [("KIDS-WAFFLE", "Kids waffle", 800), ("KIDS-PASTA", "Kids pasta", 900)],
    "salads": [("QUINOA", "Quinoa salad", 1500), ("CAESAR", "Caesar salad", 1400)],
    "coffee": [("FLATWHITE", "Flat white", 500), ("ESPRESSO", "Espresso", 400)],
}
PERSONAS: list[dict[str, Any]] = [
    {"cats": ["mains", "wine"], "day_part": "dinner", "weekend": 0.8},
    {"cats": ["brunch", "kids", "coffee"], "day_part": "brunch", "weekend": 0.95},
    {"cats": ["salads", "coffee"], "day_part": "lunch", "weekend": 0.1},
    {"cats": ["mains", "desserts"], "day_part": "dinner", "weekend": 0.5},
    {"cats": ["cocktails", "mains"], "day_part": "late", "weekend": 0.7},
    {"cats": ["coffee", "desserts"], "day_part": "afternoon", "weekend": 0.3},
]
QUERIES = [
    "wine lovers who come on weekends",
    "brunch regulars with kids",
    "lapsed high spenders",
    "people who always order dessert",
    "steak and red wine on weekends",
    "weekday lunch salad crowd",
    "late night cocktail drinkers",
    "coffee and cake in the afternoon",
]

LAPSED_HIGH_SPENDERS = ProfileFilter(lapsed=True, min_spend_12m_cents=50_000)

FloatMatrix = npt.NDArray[np.float32]


# ---- synthetic customers ---------------------------------------------------------------------------


def synthetic_document(rng: random.Random, pseudonym: str) -> tuple[str, dict[str, Any]]:
    """A plain pseudonymized profile document and its features, from a random persona."""
    persona = rng.choice(PERSONAS)
    cats = list(persona["cats"]) + ([rng.choice(list(MENU))] if rng.random() < 0.4 else [])
    items = [rng.choice(MENU[c])[1] for c in cats]
    visits = max(1, int(rng.expovariate(1 / 8)))
    avg_spend = rng.randint(1500, 9000)
    lapsed = rng.random() < 0.2
    weekend = "weekends" if persona["weekend"] > 0.5 else "weekdays"
    document = (
        f"Guest {pseudonym}. {visits} visits in the last 12 months, mostly {persona['day_part']} on {weekend}. "
        f"Favourite categories: {', '.join(cats)}. Usually orders {', '.join(items)}. "
        f"Average spend {avg_spend / 100:.0f} dollars per visit."
        + (" Has not visited for months (lapsed)." if lapsed else "")
    )
    features = {
        "visits_12m": visits,
        "spend_12m_cents": visits * avg_spend,
        "lapsed": lapsed,
        "favourite_categories": cats,
        "weekend_share": float(persona["weekend"]),
        "dessert_share": 0.8 if "desserts" in cats else 0.05,
        "alcohol_share": 0.7 if {"wine", "cocktails"} & set(cats) else 0.05,
        "brunch_share": 0.9 if "brunch" in cats else 0.02,
        "tier": "gold" if visits * avg_spend > 100_000 else "standard",
        "churn_risk": 0.85 if lapsed else round(rng.random() * 0.5, 2),
    }
    return document, features


def customer_vectors(pool: FloatMatrix, n: int, seed: int) -> FloatMatrix:
    """n unit vectors in the real embedding space: noisy mixes of two pool documents."""
    gen = np.random.default_rng(seed)
    a = gen.integers(0, len(pool), n)
    b = gen.integers(0, len(pool), n)
    w = gen.uniform(0.6, 1.0, (n, 1)).astype(np.float32)
    noise = gen.standard_normal((n, pool.shape[1])).astype(np.float32) * 0.02
    return l2_normalise(pool[a] * w + pool[b] * (1 - w) + noise)


def profile_points(n: int, pool_docs: list[tuple[str, dict[str, Any]]], vectors: FloatMatrix) -> list[ProfilePoint]:
    points = []
    for i in range(n):
        document, features = pool_docs[i % len(pool_docs)]
        points.append(
            ProfilePoint(
                merchant_id=MERCHANT, customer_id=i + 1, pseudonym=f"g_{i + 1:06d}", document=document,
                vector=vectors[i], **features,
            )
        )
    return points


# ---- measurement helpers ---------------------------------------------------------------------------


def percentile_ms(samples: Sequence[float], pct: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1000.0, pct))


def time_calls(calls: Sequence[Callable[[], object]]) -> list[float]:
    durations = []
    for call in calls:
        start = time.perf_counter()
        call()
        durations.append(time.perf_counter() - start)
    return durations


def search_latencies(
    store: VectorStore, query_vectors: FloatMatrix, rounds: int, filters: ProfileFilter | None = None
) -> list[float]:
    calls: list[Callable[[], object]] = []
    for r in range(rounds):
        vector = query_vectors[r % len(query_vectors)]
        calls.append(partial(store.search_profiles, vector, merchant_id=MERCHANT, limit=10, filters=filters))
    return time_calls(calls)


def report_latency(label: str, samples: Sequence[float], hits_per_query: float | None = None) -> None:
    returned = "" if hits_per_query is None else f", {hits_per_query:.1f} hits/query"
    print(f"  {label:<52} p50 {percentile_ms(samples, 50):7.2f} ms   p95 {percentile_ms(samples, 95):7.2f} ms"
          f"   (n={len(samples)}{returned})")


def mean_hits(store: VectorStore, query_vectors: FloatMatrix, filters: ProfileFilter | None = None) -> float:
    """Results per query, so a fast figure cannot hide an empty answer."""
    return float(np.mean([len(store.search_profiles(q, merchant_id=MERCHANT, limit=10, filters=filters))
                          for q in query_vectors]))


def recall_at_10(store: EdgeVectorStore, query_vectors: FloatMatrix, all_vectors: FloatMatrix) -> float:
    """Share of the exact top 10 (numpy brute force) that the store returns."""
    scores = all_vectors @ query_vectors.T
    recalls = []
    for q in range(len(query_vectors)):
        exact = {int(i) + 1 for i in np.argsort(-scores[:, q])[:10]}
        got = {h.customer_id for h in store.search_profiles(query_vectors[q], merchant_id=MERCHANT, limit=10)}
        recalls.append(len(exact & got) / 10)
    return float(np.mean(recalls))


# ---- per-transaction update ------------------------------------------------------------------------


def synthetic_visits(rng: random.Random, count: int) -> list[tuple[datetime, list[tuple[str, str, str, int]]]]:
    persona = rng.choice(PERSONAS)
    visits = []
    for k in range(count):
        when = NOW - timedelta(days=rng.randint(1, 360), hours=rng.randint(0, 10)) if k else NOW
        lines = [(sku, name, cat, price) for cat in persona["cats"] for sku, name, price in [rng.choice(MENU[cat])]]
        visits.append((when, lines))
    return sorted(visits)


def customer_features(customer_id: int, visits: list[Any]) -> dict[str, Any]:
    """The real per-transaction features (`profiles.features.compute_features`) as profile payload fields."""
    pos_visits = [
        Visit(occurred_at=when, total_cents=sum(p for *_x, p in lines),
              lines=[VisitLine(sku, name, cat, None, 1, price) for sku, name, cat, price in lines],
              transaction_id=k)
        for k, (when, lines) in enumerate(visits)
    ]
    features = compute_features(pos_visits, now=NOW, customer_id=customer_id)
    assert features is not None
    return {
        "visits_12m": features.visits_12m,
        "spend_12m_cents": features.spend_12m_cents,
        "churn_risk": features.churn_risk,
        "lapsed": features.lapsed,
        "weekend_share": features.weekend_share,
        "dessert_share": features.dessert_share,
        "alcohol_share": features.alcohol_share,
        "brunch_share": features.brunch_share,
        "favourite_categories": [c.name for c in features.favourite_categories],
    }


def per_transaction_update(store: VectorStore, embedder: LocalEmbedder, rounds: int, history: int) -> None:
    rng = random.Random(7)
    precomputed = embedder.embed(["precomputed profile vector"])[0]

    def one(customer_id: int, embed: bool) -> None:
        visits = synthetic_visits(rng, history)
        features = customer_features(customer_id, visits)
        when, lines = visits[-1]
        document = (
            f"Guest g_{customer_id:06d}. {features['visits_12m']} visits in 12 months. "
            f"Favourite categories: {', '.join(features['favourite_categories'])}."
        )
        purchase_doc = "Bought " + ", ".join(name for _sku, name, _cat, _price in lines)
        if embed:
            profile_vector, purchase_vector = embedder.embed([document, purchase_doc])
        else:
            profile_vector = purchase_vector = precomputed
        store.upsert_profiles([ProfilePoint(merchant_id=MERCHANT, customer_id=customer_id,
                                            pseudonym=f"g_{customer_id:06d}", document=document,
                                            vector=profile_vector, **features)])
        store.upsert_purchases([PurchasePoint(merchant_id=MERCHANT, customer_id=customer_id,
                                              transaction_id=10_000_000 + customer_id, pseudonym=f"g_{customer_id:06d}",
                                              occurred_at=when, day_part="dinner", document=purchase_doc,
                                              vector=purchase_vector, skus=[s for s, *_r in lines],
                                              categories=[c for _s, _n, c, _p in lines])])

    print(f"\nper-transaction profile update + upsert (features: profiles.features.compute_features; "
          f"history {history} visits; profile + purchase point)")
    for embed in (False, True):
        samples = time_calls([partial(one, c, embed) for c in range(1, rounds + 1)])
        label = "with embedding (2 docs, MiniLM)" if embed else "without embedding (pre-computed vector)"
        print(f"  {label:<52} median {statistics.median(samples) * 1000:7.2f} ms   "
              f"p95 {percentile_ms(samples, 95):7.2f} ms   (n={rounds})")


# ---- main ------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=20_000, help="profile points on the embedded engine")
    parser.add_argument("--pool", type=int, default=512, help="distinct documents embedded with the real model")
    parser.add_argument("--queries", type=int, default=300, help="search calls per measurement")
    parser.add_argument("--updates", type=int, default=50, help="per-transaction updates per variant")
    parser.add_argument("--history", type=int, default=12, help="visits per customer in the update path")
    parser.add_argument("--client-customers", type=int, default=5_000,
                        help="points for the qdrant-client :memory: comparison (it scans in Python)")
    parser.add_argument("--client-queries", type=int, default=30)
    parser.add_argument("--skip-optimize", action="store_true", help="do not build HNSW (brute force only)")
    parser.add_argument("--data-dir", type=Path, default=None, help="where to put the shard (default: temp)")
    parser.add_argument("--feature-customers", type=int, default=None,
                        help="customers for the batch-features timing (default: --customers)")
    args = parser.parse_args(argv)

    print(f"vector store benchmark: {args.customers} customers, 1 merchant (worst case: one tenant holds all)")
    print(f"HNSW m={tuning.HNSW_M} ef_construct={tuning.HNSW_EF_CONSTRUCT} payload_m={tuning.HNSW_PAYLOAD_M} "
          f"ef={tuning.HNSW_EF_SEARCH} full_scan_threshold={tuning.FULL_SCAN_THRESHOLD_KB} KB "
          f"indexing_threshold={tuning.INDEXING_THRESHOLD_KB} KB")

    start = time.perf_counter()
    embedder = LocalEmbedder()
    embedder.embed(["warm up"])
    print(f"\nlocal embedder load: {time.perf_counter() - start:.1f} s")

    rng = random.Random(42)
    pool_docs = [synthetic_document(rng, f"g_pool_{i:04d}") for i in range(args.pool)]
    start = time.perf_counter()
    pool = embedder.embed([doc for doc, _features in pool_docs])
    rate = len(pool_docs) / (time.perf_counter() - start)
    print(f"embedding throughput (batch 64): {rate:.0f} docs/s -> embedding {args.customers} profile docs would take "
          f"~{args.customers / rate:.0f} s; the scale part uses mixes of the {args.pool} embedded docs instead")
    query_vectors = embedder.embed(QUERIES)

    vectors = customer_vectors(pool, args.customers, seed=1)
    points = profile_points(args.customers, pool_docs, vectors)

    tmp_root = Path(tempfile.mkdtemp(prefix="bench_vectors_", dir=args.data_dir))
    edge = EdgeVectorStore(tmp_root / "qdrant")
    try:
        edge.ensure_collections(embedder.dim)
        start = time.perf_counter()
        for i in range(0, len(points), 1000):
            edge.upsert_profiles(points[i : i + 1000])
        load_s = time.perf_counter() - start
        print(f"\nembedded engine (qdrant-edge), {args.customers} profile points")
        print(f"  bulk upsert: {load_s:.1f} s ({args.customers / load_s:.0f} points/s)")
        edge.flush()
        report_latency("search, before optimize (appendable segment, brute force)",
                       search_latencies(edge, query_vectors, args.queries))
        if not args.skip_optimize:
            start = time.perf_counter()
            edge.optimize()
            print(f"  optimize (index build): {time.perf_counter() - start:.1f} s   {edge.segment_info('profiles')}")
        report_latency("semantic search top-10, tenant filter",
                       search_latencies(edge, query_vectors, args.queries), mean_hits(edge, query_vectors))
        report_latency("semantic search top-10, tenant + lapsed + spend filter",
                       search_latencies(edge, query_vectors, args.queries, LAPSED_HIGH_SPENDERS),
                       mean_hits(edge, query_vectors, LAPSED_HIGH_SPENDERS))
        print(f"  recall@10 vs exact numpy search: {recall_at_10(edge, query_vectors, vectors):.3f}")
        similar = time_calls([partial(edge.similar_customers, c, merchant_id=MERCHANT, limit=10)
                              for c in range(1, min(args.queries, args.customers) + 1)])
        report_latency("similar customers (retrieve + search)", similar)

        per_transaction_update(edge, embedder, args.updates, args.history)
    finally:
        edge.close()
        shutil.rmtree(tmp_root, ignore_errors=True)

    n_client = min(args.client_customers, args.customers)
    client = ClientVectorStore.in_memory()
    try:
        client.ensure_collections(embedder.dim)
        start = time.perf_counter()
        for i in range(0, n_client, 1000):
            client.upsert_profiles(points[i : min(i + 1000, n_client)])
        print(f"\nqdrant-client :memory: (local mode), {n_client} profile points")
        print(f"  bulk upsert: {time.perf_counter() - start:.1f} s")
        report_latency("semantic search top-10, tenant filter",
                       search_latencies(client, query_vectors, args.client_queries))
        report_latency("semantic search top-10, tenant + lapsed + spend filter",
                       search_latencies(client, query_vectors, args.client_queries, LAPSED_HIGH_SPENDERS))
    finally:
        client.close()


    features_batch(args.feature_customers or args.customers)


def features_batch(n: int) -> None:
    """Batch features (BG/NBD fit + every customer's features) for n simulated customers, timed."""
    import numpy as np

    from profiles.features import compute_features_batch
    from profiles.fit import fit_model_from_visits
    from profiles.simulate import simulate_customer_visits

    now = datetime(2026, 11, 1, tzinfo=UTC)
    start = time.perf_counter()
    visits = simulate_customer_visits(n, now=now, rng=np.random.default_rng(7))
    n_visits = sum(len(v) for v in visits.values())
    sim_s = time.perf_counter() - start
    start, cpu0 = time.perf_counter(), time.process_time()
    model = fit_model_from_visits(visits, now=now)
    fit_s = time.perf_counter() - start
    features = compute_features_batch(visits, model=model, now=now)
    total_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu0
    print(f"\nfeatures for {n} customers ({n_visits} visits, simulated in {sim_s:.1f} s; model {model.source}):")
    print(f"  BG/NBD + spend fit {fit_s:.1f} s, fit + features {total_s:.1f} s wall ({cpu_s:.1f} s CPU) for "
          f"{len(features)} profiles  (goal < 60 s at 100k)")


if __name__ == "__main__":
    main()
