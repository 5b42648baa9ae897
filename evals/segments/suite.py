"""Segment search eval: precision@10 of semantic profile search against a BM25 keyword baseline.

Why this shape: issue 5 promises that marketers can find segments by meaning ("lapsed high
spenders") and that semantic search beats keywords on average. The sandbox generator knows every
customer's persona, so relevance is ground truth, not a judgement. The suite seeds a fresh SQLite
sandbox in a temp dir, computes features and profile documents exactly as `agent.indexing` does,
embeds only the profile documents (the purchases collection plays no part in segment search and
embedding it would triple the run time), and runs every query through both retrievers over the same
documents.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path
from statistics import fmean
from typing import Any

from sqlmodel import Session, col, select

from agent.facts import customer_facts
from agent.indexing import EMBED_BATCH, profile_point
from db.engine import make_engine, migrate
from db.tables import Customer
from evals.report import Gate, SuiteReport, format_table
from evals.segments.keyword import BM25Index, query_terms
from evals.segments.schema import SegmentQuerySet, load_queries
from profiles.document import profile_document
from profiles.features import compute_features_batch
from profiles.fit import fit_model_from_visits, gross_margin, load_all_visits
from sandbox.personas import sandbox_customer_personas
from sandbox.restaurant import DEFAULT_END, MERCHANT_ID
from sandbox.seed import seed_database
from vectorstore.edge_backend import EdgeVectorStore
from vectorstore.embeddings import Embedder, LocalEmbedder

log = logging.getLogger(__name__)

K = 10
DEFAULT_CUSTOMERS = 600
DEFAULT_SEED = 42
MONTHS = 12


@dataclass
class IndexedSandbox:
    """Profile documents keyed by database customer id, with ground-truth labels and timings."""

    documents: dict[int, str]
    labels: dict[int, list[str]]
    store: EdgeVectorStore
    embedder: Embedder
    timings: dict[str, float] = field(default_factory=dict)


def precision_at_k(ranked: list[int], relevant: set[int], k: int = K) -> float:
    """Standard precision@k: relevant hits among the first k results, divided by k."""
    return sum(1 for doc_id in ranked[:k] if doc_id in relevant) / k


def build_index(workdir: Path, *, customers: int, seed: int, embedder: Embedder) -> IndexedSandbox:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    url = f"sqlite:///{workdir / 'sandbox.db'}"
    migrate(url)
    engine = make_engine(url)
    seed_database(engine, customers=customers, months=MONTHS, seed=seed)
    timings["seed_s"] = time.perf_counter() - started

    started = time.perf_counter()
    # The history ends at DEFAULT_END: profiles are computed as of that moment, as a live system would.
    now = datetime.combine(DEFAULT_END, clock_time(), tzinfo=UTC)
    with Session(engine) as session:
        visits = load_all_visits(session, merchant_id=MERCHANT_ID)
        model = fit_model_from_visits(visits, now=now, margin=gross_margin(session, merchant_id=MERCHANT_ID))
        features = compute_features_batch(visits, model=model, now=now)
        rows = session.exec(select(Customer).where(col(Customer.merchant_id) == MERCHANT_ID)).all()
    engine.dispose()
    by_id = {row.id: row for row in rows if row.id is not None}
    ids = sorted(cid for cid in features if cid in by_id)
    facts = {cid: customer_facts(by_id[cid], None) for cid in ids}
    documents = {cid: profile_document(features[cid], facts[cid]) for cid in ids}
    personas = sandbox_customer_personas(seed, customers, MONTHS)
    labels = {cid: personas[by_id[cid].pos_customer_id] for cid in ids}
    timings["features_s"] = time.perf_counter() - started

    started = time.perf_counter()
    texts = [documents[cid] for cid in ids]
    vectors = [v for i in range(0, len(texts), EMBED_BATCH) for v in embedder.embed(texts[i : i + EMBED_BATCH])]
    timings["embed_s"] = time.perf_counter() - started

    store = EdgeVectorStore(workdir / "qdrant")
    store.ensure_collections(embedder.dim)
    store.upsert_profiles(
        [
            profile_point(features[cid], facts[cid], merchant_id=MERCHANT_ID, customer_id=cid, document=doc, vector=vec)
            for cid, doc, vec in zip(ids, texts, vectors, strict=True)
        ]
    )
    return IndexedSandbox(documents=documents, labels=labels, store=store, embedder=embedder, timings=timings)


def run_segments(
    *, customers: int = DEFAULT_CUSTOMERS, seed: int = DEFAULT_SEED, query_set: SegmentQuerySet | None = None,
    embedder: Embedder | None = None,
) -> SuiteReport:
    query_set = query_set or load_queries()
    embedder = embedder or LocalEmbedder()
    suite_started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="evals-segments-") as tmp:
        sandbox = build_index(Path(tmp), customers=customers, seed=seed, embedder=embedder)
        try:
            rows = _score_queries(sandbox, query_set)
        finally:
            sandbox.store.close()
    seconds = time.perf_counter() - suite_started

    semantic_mean = fmean(row["semantic_p10"] for row in rows)
    keyword_mean = fmean(row["keyword_p10"] for row in rows)
    gates = [
        Gate(
            name="semantic mean precision@10 floor",
            measured=semantic_mean,
            threshold=query_set.gates.semantic_min_mean_precision,
        ),
    ]
    if query_set.gates.semantic_must_beat_keyword:
        gates.append(
            Gate(
                name="semantic mean precision@10 >= keyword (BM25) mean",
                measured=semantic_mean,
                threshold=keyword_mean,
                detail=f"semantic {semantic_mean:.3f} vs keyword {keyword_mean:.3f}",
            )
        )
    summary = {
        "customers": customers,
        "seed": seed,
        "indexed_profiles": len(sandbox.documents),
        "queries": len(rows),
        "k": K,
        "semantic_mean_p10": round(semantic_mean, 4),
        "keyword_mean_p10": round(keyword_mean, 4),
        "semantic_wins": sum(1 for row in rows if row["semantic_p10"] > row["keyword_p10"]),
        "keyword_wins": sum(1 for row in rows if row["keyword_p10"] > row["semantic_p10"]),
        "ties": sum(1 for row in rows if row["keyword_p10"] == row["semantic_p10"]),
        **{key: round(value, 2) for key, value in sandbox.timings.items()},
    }
    return SuiteReport(suite="segments", seconds=round(seconds, 2), summary=summary, gates=gates, rows=rows)


def _score_queries(sandbox: IndexedSandbox, query_set: SegmentQuerySet) -> list[dict[str, Any]]:
    started = time.perf_counter()
    keyword = BM25Index(sandbox.documents)
    query_vectors = sandbox.embedder.embed([q.query for q in query_set.queries])
    rows: list[dict[str, Any]] = []
    for query, vector in zip(query_set.queries, query_vectors, strict=True):
        relevant = {cid for cid, labels in sandbox.labels.items() if query.label.matches(labels)}
        if not relevant:
            raise ValueError(f"segment query {query.id!r} matches no indexed customer; fix its label")
        hits = sandbox.store.search_profiles(vector, merchant_id=MERCHANT_ID, limit=K)
        semantic = [hit.customer_id for hit in hits]
        bm25 = keyword.search(query.query, limit=K)
        rows.append(
            {
                "id": query.id,
                "query": query.query,
                "relevant": len(relevant),
                "max_p10": min(K, len(relevant)) / K,
                "semantic_p10": precision_at_k(semantic, relevant),
                "keyword_p10": precision_at_k(bm25, relevant),
                "keyword_terms": list(query_terms(query.query)),
                "semantic_top": semantic,
                "keyword_top": bm25,
            }
        )
    sandbox.timings["search_s"] = time.perf_counter() - started
    return rows


def print_segments(report: SuiteReport) -> None:
    headers = ["query", "relevant", "max", "semantic", "keyword", "winner"]
    table_rows = []
    for row in report.rows:
        sem, kw = float(row["semantic_p10"]), float(row["keyword_p10"])
        winner = "semantic" if sem > kw else "keyword" if kw > sem else "tie"
        table_rows.append([row["query"], row["relevant"], float(row["max_p10"]), sem, kw, winner])
    s = report.summary
    table_rows.append(["MEAN", "", "", float(s["semantic_mean_p10"]), float(s["keyword_mean_p10"]), ""])
    print(f"\n== segments: precision@{K}, semantic (all-MiniLM-L6-v2 + Qdrant edge) vs keyword (BM25) ==")
    print(
        f"{s['indexed_profiles']} profiles from {s['customers']} customers (seed {s['seed']}); "
        f"seed {s['seed_s']}s, features {s['features_s']}s, embed {s['embed_s']}s, search {s['search_s']}s"
    )
    print(format_table(headers, table_rows))
    print(f"semantic wins {s['semantic_wins']}, keyword wins {s['keyword_wins']}, ties {s['ties']}")
