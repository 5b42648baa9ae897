"""The process-wide vector store for the settings: which backend, opened once per process.

Kept apart from `vectorstore.store` (the interface the backends subclass) so the import graph stays a
tree: factory -> backends -> store. Backends are imported on first use, so importing this module
loads neither engine.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

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
