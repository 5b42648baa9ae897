"""The process-wide vector store and embedder for the settings: which backend, opened once per process.

Kept apart from `vectorstore.store` (the interface the backends subclass) so the import graph stays a
tree: factory -> backends -> store. Backends are imported on first use, so importing this module
loads neither engine.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from vectorstore.embeddings import LOCAL_MODEL_DIM, Embedder, LocalEmbedder, OpenAIEmbedder
from vectorstore.store import VectorStore

if TYPE_CHECKING:
    from core.settings import Settings

_stores: dict[str, VectorStore] = {}
_stores_lock = threading.Lock()


def get_vector_store(settings: Settings, *, dim: int | None = None) -> VectorStore:
    """The process-wide store for these settings: a Qdrant server if `QDRANT_URL` is set (`:memory:`
    selects qdrant-client's in-process test mode), else the embedded engine under `DATA_DIR/qdrant`
    (one instance per process: the engine's files are owned by one process at a time), or, with
    `VECTOR_SERVICE`, that engine reached through the worker process that owns it (vectorstore.service).

    With `dim`, the collections are created if missing (pass `get_embedder(settings).dim`).
    """
    key = settings.qdrant_url or str((settings.data_dir / "qdrant").resolve())
    if not settings.qdrant_url and settings.vector_service:
        key = "service:" + key
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            if key.startswith("service:"):
                from vectorstore.service import RemoteVectorStore

                store = RemoteVectorStore.for_settings(settings)
            elif settings.qdrant_url:
                from vectorstore.client_backend import ClientVectorStore

                store = (
                    ClientVectorStore.in_memory()
                    if settings.qdrant_url == ":memory:"
                    else ClientVectorStore.connect(settings.qdrant_url)
                )
            else:
                from vectorstore.edge_backend import EdgeVectorStore

                store = EdgeVectorStore(settings.data_dir / "qdrant")
            _stores[key] = store
    if dim is not None:
        store.ensure_collections(dim)
    return store


def close_vector_stores() -> None:
    """Close every store opened by `get_vector_store` (application shutdown, tests)."""
    with _stores_lock:
        stores = list(_stores.values())
        _stores.clear()
    for store in stores:
        store.close()


_embedders: dict[tuple[str, ...], Embedder] = {}
_embedders_lock = threading.Lock()


def get_embedder(settings: Settings) -> Embedder:
    """The process-wide embedder for these settings (lazily loaded; one instance per configuration).

    `embedding_provider="openai"` uses `EMBEDDING_BASE_URL`/`EMBEDDING_API_KEY`/`EMBEDDING_DIM` when set
    in the environment, else the LLM endpoint settings: embeddings usually come from the same gateway.
    """
    provider = settings.embedding_provider
    key: tuple[str, ...]
    factory: Any
    if provider == "local" and settings.vector_service and not settings.qdrant_url:
        # The worker process that owns the embedded engine embeds for this one: no torch loaded here.
        from vectorstore.service import RemoteEmbedder, service_address

        address = service_address(settings.data_dir)
        key = ("service", address)

        def factory() -> Embedder:
            return RemoteEmbedder(address, settings.resolved_vector_service_key().encode(), dim=LOCAL_MODEL_DIM)
    elif provider == "local":
        key = ("local",)

        def factory() -> Embedder:
            return LocalEmbedder(torch_threads=settings.embedding_threads)
    else:
        base_url = os.environ.get("EMBEDDING_BASE_URL") or settings.llm_base_url
        api_key = os.environ.get("EMBEDDING_API_KEY") or settings.llm_api_key
        dim = int(os.environ.get("EMBEDDING_DIM", "1536"))
        key = ("openai", str(base_url), settings.embedding_model, str(dim))

        def factory() -> Embedder:
            return OpenAIEmbedder(model=settings.embedding_model, dim=dim, base_url=base_url, api_key=api_key)

    with _embedders_lock:
        embedder = _embedders.get(key)
        if embedder is None:
            embedder = factory()
            _embedders[key] = embedder
        return embedder
