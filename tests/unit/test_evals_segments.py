"""Segment eval pieces that need no model or database: BM25 baseline, label expressions, the query file."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from evals.report import Gate
from evals.segments.keyword import BM25Index, tokenize
from evals.segments.schema import LabelExpr, SegmentQuerySet, load_queries
from evals.segments.suite import IndexedSandbox, paraphrase_overlaps, precision_at_k
from sandbox.personas import sandbox_customer_personas


def test_tokenize_drops_stopwords_and_folds_plurals() -> None:
    assert tokenize("Families who order the desserts; wine_red!") == ["family", "order", "dessert", "wine", "red"]
    assert tokenize("glass") == ["glass"]


def test_bm25_ranks_matching_and_rarer_terms_first() -> None:
    index = BM25Index(
        {
            1: "Regular guest. Orders wine with dinner. Wine lover.",
            2: "Regular guest. Brunch with kids on Saturdays.",
            3: "Regular guest. Orders dessert on every visit.",
        }
    )
    assert index.search("wine lovers", limit=1) == [1]
    assert index.search("brunch with the kids", limit=1) == [2]
    scores = dict(index.scores("regular"))
    assert scores[1] > 0 and scores[1] < dict(index.scores("dessert"))[3]  # a term in every doc weighs little
    assert index.search("sushi", limit=3) == [1, 2, 3]  # no match: ties keep document order


def test_precision_at_k_divides_by_k() -> None:
    assert precision_at_k([1, 2, 3, 4], {2, 4, 9}, k=4) == 0.5
    assert precision_at_k([1, 2], {1, 2}, k=10) == 0.2


def test_label_expression_semantics() -> None:
    labels = ["regular", "wine_lover", "signature:SALMON-ENTREE"]
    assert LabelExpr(any_of=("wine_lover", "family")).matches(labels)
    assert not LabelExpr(all_of=("wine_lover", "dessert_lover")).matches(labels)
    assert not LabelExpr(any_of=("regular",), none_of=("wine_lover",)).matches(labels)
    assert LabelExpr(any_of=("signature:SALMON-ENTREE",)).matches(labels)


def test_label_expression_refuses_typos_and_empty_expressions() -> None:
    with pytest.raises(ValidationError, match="unknown persona label"):
        LabelExpr(any_of=("wine_lovers",))
    with pytest.raises(ValidationError, match="unknown persona label"):
        LabelExpr(any_of=("signature:SUSHI",))
    with pytest.raises(ValidationError, match="needs any_of or all_of"):
        LabelExpr(none_of=("one_timer",))


def test_shipped_queries_are_valid_and_each_has_relevant_customers() -> None:
    query_set = load_queries()
    assert len(query_set.queries) >= 40
    assert sum(q.paraphrase for q in query_set.queries) * 2 >= len(query_set.queries)
    assert query_set.gates.hybrid_min_mean_precision == 0.92  # the gate, never lowered to pass
    assert query_set.gates.hybrid_margin_over_keyword == 0.03 and query_set.gates.hybrid_must_match_dense
    personas = sandbox_customer_personas(42, 600, 12)
    for query in query_set.queries:
        relevant = [cid for cid, labels in personas.items() if query.label.matches(labels)]
        assert relevant, query.id


def test_gate_passes_only_at_or_above_threshold() -> None:
    assert Gate(name="g", measured=0.9, threshold=0.9).passed
    assert not Gate(name="g", measured=0.89, threshold=0.9).passed
    assert "FAIL" in Gate(name="g", measured=0.1, threshold=0.9).line()


def test_paraphrase_check_catches_a_shared_word_even_after_stemming() -> None:
    documents = {1: "Wine lover. Orders red wine with dinner.", 2: "Family with kids, weekend brunch."}
    sandbox = IndexedSandbox(documents=documents, labels={}, store=None, embedder=None)  # type: ignore[arg-type]
    base = {"label": {"any_of": ["wine_lover"]}, "paraphrase": True}
    queries = SegmentQuerySet.model_validate({
        "gates": {"hybrid_min_mean_precision": 0.92, "hybrid_margin_over_keyword": 0.03},
        "queries": [{"id": f"q{i}", "query": text, **base} for i, text in enumerate(
            ["oenophiles", "people ordering merlot", "dinners out"] + ["connoisseurs"] * 37)],
    })
    overlaps = paraphrase_overlaps(sandbox, queries)
    assert "q0" not in overlaps
    assert overlaps["q1"] == ["1 stemmed term(s)"]  # only the engine's stemmer sees "ordering" ~ "Orders"
    assert overlaps["q2"] == ["dinner", "1 stemmed term(s)"]


def test_too_few_paraphrases_are_refused() -> None:
    with pytest.raises(ValidationError, match="paraphrases"):
        SegmentQuerySet.model_validate({
            "gates": {"hybrid_min_mean_precision": 0.92, "hybrid_margin_over_keyword": 0.03},
            "queries": [{"id": f"q{i}", "query": "wine lovers", "label": {"any_of": ["wine_lover"]}}
                        for i in range(40)],
        })
