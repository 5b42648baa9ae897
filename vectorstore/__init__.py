"""Qdrant access (embedded engine by default, server via QDRANT_URL) and embedding providers.

Typical use::

    embedder = get_embedder(settings)
    store = get_vector_store(settings, dim=embedder.dim)
    hits = store.search_profiles(embedder.embed([query])[0], merchant_id=merchant_id, limit=10)

Backends are imported lazily by `get_vector_store`, so importing this package loads neither engine.
"""

from vectorstore.embeddings import Embedder, HashingEmbedder, LocalEmbedder, OpenAIEmbedder
from vectorstore.factory import close_vector_stores, get_embedder, get_vector_store
from vectorstore.points import (
    PROFILES,
    PURCHASES,
    Hit,
    ProfileFilter,
    ProfilePoint,
    PurchasePoint,
    profile_point_id,
    purchase_point_id,
)
from vectorstore.store import VectorStore

__all__ = [
    "PROFILES",
    "PURCHASES",
    "Embedder",
    "HashingEmbedder",
    "Hit",
    "LocalEmbedder",
    "OpenAIEmbedder",
    "ProfileFilter",
    "ProfilePoint",
    "PurchasePoint",
    "VectorStore",
    "close_vector_stores",
    "get_embedder",
    "get_vector_store",
    "profile_point_id",
    "purchase_point_id",
]
