"""The keyword half of hybrid search: BM25 sparse vectors of profile documents, fused with the dense
vectors by reciprocal rank fusion inside Qdrant.

Why hybrid: dense embeddings find a segment by meaning ("oenophiles" -> wine lovers) but blur exact
words a marketer types ("ribeye", "mimosas"); BM25 is the reverse. Reciprocal rank fusion (Cormack,
Clarke & Buettcher 2009) adds 1 / (k + rank) from each list, so a document both lists rank high wins,
and a query whose words appear in no document (a pure paraphrase) gets an empty keyword list and
falls back to the dense ranking unchanged.

How: the document side is tokenised, stop-worded and Snowball-stemmed by the engine's own BM25 model
(`qdrant_edge.Bm25`: term-frequency weights with BM25 length normalisation); the collection stores it
as the named sparse vector `bm25` with the IDF modifier, so Qdrant supplies the corpus statistics at
query time and a sparse query scores exactly BM25. Both backends store and query the same vectors.
The constants are the textbook ones (k1 = 1.2, b = 0.75 in the model's defaults; RRF k = 60), not
tuned on any eval query.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

SPARSE_VECTOR = "bm25"  # name of the sparse vector in the profiles collection
RRF_K = 60  # the constant of the original RRF paper
HYBRID_CANDIDATES = 100  # candidates each retriever contributes before fusion (at least the limit)


@dataclass(frozen=True)
class SparseVector:
    """Term ids (hashed, stemmed tokens) and their weights."""

    indices: tuple[int, ...]
    values: tuple[float, ...]

    def __bool__(self) -> bool:
        return bool(self.indices)


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _model() -> object:
    import qdrant_edge as qe

    return qe.Bm25(qe.Bm25Config())


def _encode(text: str, *, query: bool) -> SparseVector:
    model = _model()
    with _lock:  # one model instance shared by threads; encoding is microseconds
        raw = model.embed_query(text) if query else model.embed_document(text)  # type: ignore[attr-defined]
    return SparseVector(tuple(int(i) for i in raw.indices), tuple(float(v) for v in raw.values))


def document_vector(text: str) -> SparseVector:
    """BM25 document-side weights of a profile document."""
    return _encode(text, query=False)


def query_vector(text: str) -> SparseVector:
    """The query's stemmed terms (weight 1 each; the collection's IDF modifier weights them)."""
    return _encode(text, query=True)


def candidates_for(limit: int) -> int:
    return max(limit, HYBRID_CANDIDATES)
