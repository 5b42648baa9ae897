"""Embedder contract without torch or network: hashing embedder, OpenAI-compatible client (faked), factory."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from core.settings import Settings
from vectorstore.embeddings import (
    Embedder,
    HashingEmbedder,
    LocalEmbedder,
    OpenAIEmbedder,
    l2_normalise,
    local_model_path,
)
from vectorstore.factory import get_embedder


def test_hashing_embedder_is_deterministic_normalised_and_overlap_sensitive() -> None:
    embedder = HashingEmbedder(dim=128)
    a, b, c, a_again = embedder.embed(
        ["red wine with steak", "steak and red wine", "pancakes for kids", "red wine with steak"]
    )
    assert embedder.embed(["x"]).dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm([a, b, c], axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(a, a_again)
    assert float(a @ b) > float(a @ c)
    assert embedder.embed([]).shape == (0, 128)
    assert isinstance(embedder, Embedder)


def test_l2_normalise_keeps_zero_rows_finite() -> None:
    out = l2_normalise([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])


class FakeEmbeddingsAPI:
    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.calls: list[list[str]] = []

    def create(self, *, model: str, input: list[str]) -> Any:
        self.calls.append(list(input))
        # Out of order on purpose: the client must sort by index.
        data = [SimpleNamespace(index=i, embedding=[float(len(t)) + 1.0] + [1.0] * (self.dim - 1))
                for i, t in enumerate(input)]
        return SimpleNamespace(data=list(reversed(data)))


def test_openai_embedder_batches_orders_and_normalises() -> None:
    api = FakeEmbeddingsAPI(dim=4)
    embedder = OpenAIEmbedder(model="m", dim=4, batch_size=2, client=SimpleNamespace(embeddings=api))
    texts = ["a", "bbbb", "cc"]
    out = embedder.embed(texts)
    assert [len(call) for call in api.calls] == [2, 1]
    assert out.shape == (3, 4) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    expected = l2_normalise([[2.0, 1, 1, 1], [5.0, 1, 1, 1], [3.0, 1, 1, 1]])
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert embedder.embed([]).shape == (0, 4)


def test_openai_embedder_rejects_wrong_dimension() -> None:
    embedder = OpenAIEmbedder(model="m", dim=8, client=SimpleNamespace(embeddings=FakeEmbeddingsAPI(dim=4)))
    with pytest.raises(ValueError, match="expected"):
        embedder.embed(["a"])


def test_get_embedder_returns_one_lazy_local_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A fresh process-wide cache: tests that ran earlier in this process may have loaded the model.
    import vectorstore.factory

    monkeypatch.setattr(vectorstore.factory, "_embedders", {})
    settings = Settings(data_dir=tmp_path)
    first = get_embedder(settings)
    assert isinstance(first, LocalEmbedder)
    assert not first.loaded  # nothing heavy happens until the first embed()
    assert get_embedder(Settings(data_dir=tmp_path)) is first
    assert first.dim == 384


def test_get_embedder_openai(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDDING_DIM", "8")
    settings = Settings(data_dir=tmp_path, embedding_provider="openai", embedding_model="emb-test",
                        llm_base_url="http://localhost:9/v1", llm_api_key="k")
    embedder = get_embedder(settings)
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.dim == 8


def test_local_model_ships_with_the_package() -> None:
    path = Path(local_model_path())
    assert (path / "model.safetensors").is_file()
    assert (path / "tokenizer.json").is_file()
