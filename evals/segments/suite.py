"""Segment search eval: precision@10 of hybrid profile search against dense-only and a BM25 baseline.

Why this shape: marketers find segments by meaning ("lapsed high spenders", "oenophiles") and by
exact words ("ribeye regulars"). The sandbox generator knows every customer's persona, so relevance is
ground truth, not a judgement. The suite seeds a fresh SQLite sandbox in a temp dir, computes features
and profile documents exactly as `agent.indexing` does, embeds only the profile documents (the
purchases collection plays no part in segment search) into the embedded Qdrant engine, and runs every
query through three retrievers over the same documents:

* hybrid: `VectorStore.search_profiles(vector, text=query)` (dense + BM25 sparse, RRF in Qdrant);
* dense: `VectorStore.search_profiles(vector)`;
* keyword: the textbook BM25 of `evals/segments/keyword.py`, written independently of the store.

Half the queries are paraphrases; the suite proves they share no content word with any document
(both with the baseline's tokenizer and with the engine's stemmed BM25 terms) before scoring them.
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
from evals.segments.keyword import BM25Index, query_terms, tokenize
from evals.segments.schema import SegmentQuerySet, load_queries
from profiles.document import profile_document
from profiles.features import compute_features_batch
from profiles.fit import fit_model_from_visits, gross_margin, load_all_visits
from sandbox.personas import sandbox_customer_personas
from sandbox.restaurant import DEFAULT_END, MERCHANT_ID
from sandbox.seed import seed_database
from vectorstore.edge_backend import EdgeVectorStore
from vectorstore.embeddings import Embedder, LocalEmbedder
from vectorstore.sparse import document_vector, query_vector

log = logging.getLogger(__name__)

K = 10
RETRIEVERS = ("hybrid", "dense", "keyword")
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


def paraphrase_overlaps(sandbox: IndexedSandbox, query_set: SegmentQuerySet) -> dict[str, list[str]]:
    """Paraphrase queries that share a content word with some indexed document, with the shared words
    (baseline tokens) or the count of shared stemmed engine terms."""
    vocabulary = {token for doc in sandbox.documents.values() for token in tokenize(doc)}
    engine_terms = {i for doc in sandbox.documents.values() for i in document_vector(doc).indices}
    overlaps: dict[str, list[str]] = {}
    for query in query_set.queries:
        if not query.paraphrase:
            continue
        shared = sorted(set(tokenize(query.query)) & vocabulary)
        stemmed = len(set(query_vector(query.query).indices) & engine_terms)
        if shared or stemmed:
            overlaps[query.id] = shared + ([f"{stemmed} stemmed term(s)"] if stemmed else [])
    return overlaps


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
            overlaps = paraphrase_overlaps(sandbox, query_set)
            rows = _score_queries(sandbox, query_set)
        finally:
            sandbox.store.close()
    seconds = time.perf_counter() - suite_started

    means = {name: fmean(row[f"{name}_p10"] for row in rows) for name in RETRIEVERS}
    gates_cfg = query_set.gates
    n = len(rows)
    paraphrases = [row for row in rows if row["paraphrase"]]
    gates = [
        Gate(name="paraphrase queries share no word with the documents", measured=(len(paraphrases) - len(overlaps))
             / len(paraphrases) if paraphrases else 0.0, threshold=1.0, numerator=len(paraphrases) - len(overlaps),
             denominator=len(paraphrases), detail="; ".join(f"{k}: {', '.join(v)}" for k, v in overlaps.items())),
        Gate(name="hybrid mean precision@10", measured=means["hybrid"], threshold=gates_cfg.hybrid_min_mean_precision,
             denominator=n, target_only=gates_cfg.hybrid_min_mean_precision_target_only),
        Gate(name=f"hybrid >= keyword (BM25) + {gates_cfg.hybrid_margin_over_keyword:.2f}", measured=means["hybrid"],
             threshold=means["keyword"] + gates_cfg.hybrid_margin_over_keyword, denominator=n,
             detail=f"BM25 {means['keyword']:.3f}"),
    ]
    if gates_cfg.hybrid_must_match_dense:
        gates.append(Gate(name="hybrid >= dense-only", measured=means["hybrid"], threshold=means["dense"],
                          denominator=n, detail=f"dense {means['dense']:.3f}"))
    summary = {
        "customers": customers,
        "seed": seed,
        "indexed_profiles": len(sandbox.documents),
        "queries": n,
        "paraphrases": len(paraphrases),
        "k": K,
        **{f"{name}_mean_p10": round(mean, 4) for name, mean in means.items()},
        **{f"{name}_mean_p10_paraphrases": round(fmean(r[f"{name}_p10"] for r in paraphrases), 4)
           for name in RETRIEVERS if paraphrases},
        **{f"{name}_mean_p10_keyword_queries": round(fmean(r[f"{name}_p10"] for r in rows if not r["paraphrase"]), 4)
           for name in RETRIEVERS if len(paraphrases) < n},
        "paraphrase_overlaps": overlaps,
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
        ranked = {
            "hybrid": [h.customer_id for h in sandbox.store.search_profiles(vector, merchant_id=MERCHANT_ID, limit=K,
                                                                            text=query.query)],
            "dense": [h.customer_id for h in sandbox.store.search_profiles(vector, merchant_id=MERCHANT_ID, limit=K)],
            "keyword": keyword.search(query.query, limit=K),
        }
        rows.append(
            {
                "id": query.id,
                "query": query.query,
                "paraphrase": query.paraphrase,
                "relevant": len(relevant),
                "max_p10": min(K, len(relevant)) / K,
                **{f"{name}_p10": precision_at_k(ids, relevant) for name, ids in ranked.items()},
                "keyword_terms": list(query_terms(query.query)),
                **{f"{name}_top": ids for name, ids in ranked.items()},
            }
        )
    sandbox.timings["search_s"] = time.perf_counter() - started
    return rows


def print_segments(report: SuiteReport) -> None:
    headers = ["query", "kind", "relevant", "max", "hybrid", "dense", "BM25"]
    table_rows: list[list[object]] = [
        [row["query"], "para" if row["paraphrase"] else "kw", row["relevant"], float(row["max_p10"]),
         *(float(row[f"{name}_p10"]) for name in RETRIEVERS)]
        for row in report.rows
    ]
    s = report.summary
    for label, suffix in (("MEAN keyword queries", "_keyword_queries"), ("MEAN paraphrases", "_paraphrases"),
                          ("MEAN all", "")):
        if f"hybrid_mean_p10{suffix}" in s:
            table_rows.append([label, "", "", "", *(float(s[f"{name}_mean_p10{suffix}"]) for name in RETRIEVERS)])
    print(f"\n== segments: precision@{K}, hybrid (dense + BM25, RRF in Qdrant) vs dense-only vs BM25 ==")
    print(
        f"{s['indexed_profiles']} profiles from {s['customers']} customers (seed {s['seed']}); {s['queries']} queries,"
        f" {s['paraphrases']} paraphrases; seed {s['seed_s']}s, features {s['features_s']}s, embed {s['embed_s']}s,"
        f" search {s['search_s']}s"
    )
    print(format_table(headers, table_rows))
    if s["paraphrase_overlaps"]:
        print("paraphrases sharing words with the documents (fix the query, not the gate):")
        for query_id, words in s["paraphrase_overlaps"].items():
            print(f"  {query_id}: {', '.join(words)}")
