"""Profile features travel typed: `ProfileFeatures` in, its JSON dump through the checkpointer, the same
`ProfileFeatures` back out at every read (`agent.state.decision_features`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from pydantic import ValidationError

from agent.state import decision_features
from profiles.features import ProfileFeatures, compute_features
from profiles.visits import Visit, VisitLine

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
SALMON = VisitLine("SALMON", "Grilled Salmon", "mains", None, 1, 2400)
MERLOT = VisitLine("MERLOT", "House Merlot", "drinks", "wine", 2, 1100, True)


def _features() -> ProfileFeatures:
    visits = [Visit(NOW - timedelta(days=21 * k, hours=3), 4600, [SALMON, MERLOT]) for k in range(6)]
    features = compute_features(visits, now=NOW, customer_id=7)
    assert features is not None and features.favourite_item_rhythm is not None
    return features


def test_features_survive_the_checkpointer_as_the_same_type() -> None:
    features = _features()
    state = {"features": features.model_dump(mode="json")}
    serde = JsonPlusSerializer()
    restored = serde.loads_typed(serde.dumps_typed(state))
    typed = decision_features(restored)
    assert isinstance(typed, ProfileFeatures)
    assert typed == features
    assert isinstance(typed.expected_next_visit_at, datetime) and typed.expected_next_visit_at.tzinfo is not None


def test_no_features_is_none_also_for_old_empty_dumps() -> None:
    assert decision_features({}) is None
    assert decision_features({"features": None}) is None
    assert decision_features({"features": {}}) is None


def test_a_damaged_dump_fails_loudly_instead_of_reading_defaults() -> None:
    dump = _features().model_dump(mode="json")
    del dump["clv_12m_cents"]
    with pytest.raises(ValidationError):
        decision_features({"features": dump})


def test_no_string_reads_of_features_in_agent_or_api() -> None:
    # A feature read by name (`features.get("clv_12m_cents")`, `features["lapsed"]`); a dict of typed
    # features keyed by customer id (`features.get(customer.id)`) is fine.
    reads = re.compile(r"""features\s*(\.get\(|\[)\s*["']""")
    found = [
        f"{path.relative_to(REPO)}:{n}"
        for package in ("agent", "api")
        for path in sorted((REPO / package).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if reads.search(line)
    ]
    assert found == []
