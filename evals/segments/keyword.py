"""The keyword baseline semantic search has to beat: Okapi BM25 over the same profile documents.

Kept honest on purpose: the same documents, lower-casing, the NLTK-style English stopword list, a light
plural stemmer (so "lovers" matches "lover" and "families" matches "family", which a keyword engine
such as Elasticsearch's English analyser would also do) and the textbook parameters k1=1.5, b=0.75.
Ties (for example documents sharing no term with the query) are broken by document id, the same
order a search engine would give for equal scores, so the result is deterministic.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from typing import Generic, TypeVar

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers him his how i if in into is it its itself just me more most my no nor
    not of off on once only or other our out over own same she should so some such than that the their
    them then there these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your yours""".split()
)
DocId = TypeVar("DocId", bound=Hashable)
_TOKEN_RE = re.compile(r"[a-z0-9]+")


def stem(token: str) -> str:
    """Plural folding only: 'families' -> 'family', 'lovers' -> 'lover', 'glass' stays 'glass'."""
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def tokenize(text: str) -> list[str]:
    """Lower-case alphanumeric runs, stopwords dropped, plurals folded ('wine_red' -> 'wine', 'red')."""
    return [stem(token) for token in _TOKEN_RE.findall(text.lower()) if token not in STOPWORDS]


class BM25Index(Generic[DocId]):
    """Okapi BM25 with the Lucene/Robertson idf `ln(1 + (N - n + 0.5) / (n + 0.5))` (never negative)."""

    def __init__(self, documents: Mapping[DocId, str], *, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._ids: list[DocId] = list(documents)
        self._term_freqs: list[Counter[str]] = [Counter(tokenize(documents[doc_id])) for doc_id in self._ids]
        self._lengths = [sum(freqs.values()) for freqs in self._term_freqs]
        self._avg_length = (sum(self._lengths) / len(self._lengths)) if self._lengths else 0.0
        doc_freq: Counter[str] = Counter()
        for freqs in self._term_freqs:
            doc_freq.update(freqs.keys())
        total = len(self._ids)
        self._idf = {term: math.log(1 + (total - n + 0.5) / (n + 0.5)) for term, n in doc_freq.items()}

    def scores(self, query: str) -> list[tuple[DocId, float]]:
        """Every document with its score for `query` (repeated query terms count once)."""
        terms = list(dict.fromkeys(tokenize(query)))
        out: list[tuple[DocId, float]] = []
        for doc_id, freqs, length in zip(self._ids, self._term_freqs, self._lengths, strict=True):
            norm = self.k1 * (1 - self.b + self.b * length / self._avg_length) if self._avg_length else self.k1
            score = 0.0
            for term in terms:
                tf = freqs.get(term, 0)
                if tf:
                    score += self._idf[term] * tf * (self.k1 + 1) / (tf + norm)
            out.append((doc_id, score))
        return out

    def search(self, query: str, *, limit: int) -> list[DocId]:
        """Top `limit` document ids, best first; equal scores keep insertion order (stable sort)."""
        ranked = sorted(self.scores(query), key=lambda pair: -pair[1])
        return [doc_id for doc_id, _ in ranked[:limit]]


def query_terms(query: str) -> Sequence[str]:
    """The terms the baseline actually matches on (shown in the report so a reader can judge it)."""
    return list(dict.fromkeys(tokenize(query)))
