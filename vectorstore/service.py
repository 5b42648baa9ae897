"""The embedded engine shared across processes: its owner serves it on a local socket.

The embedded Qdrant engine (`EdgeVectorStore`) lets one process open its files. On the embedded
default `serve` runs decisions in a worker process (the webhook ack must not share a GIL with them),
so that worker owns the engine and the embedder, and every other process of the deployment (the API
process for segment search and associate Q&A, further worker processes on PostgreSQL) reaches them
through this service:

    owner (worker slot 0)                           any other process
    VectorService(store, embedder).start() <-- RemoteVectorStore / RemoteEmbedder (same interfaces)

Why here and not in the API process: upserts and embedding are the CPU-heavy part of vector work and
happen on every sale, inside the worker; search requests from the API are rare by comparison. So the
decision path calls the engine in-process and only API reads pay one local round trip (~0.2 ms).

Transport: `multiprocessing.connection` on a Unix socket, authenticated by an HMAC challenge with a key
kept in DATA_DIR (mode 0600), so only processes that can read the data directory can connect; messages
are pickled only after that handshake. The address and the key derive from DATA_DIR, so every process
of one deployment finds the same service without being told a port. The client implements the store's
backend primitives (`vectorstore.store`), so tenant scoping, point ids and payloads stay in one place.

A call to a service that is down (the owner is restarting) raises `VectorServiceUnavailable`; the
client reconnects on its next call.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import threading
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vectorstore.points import CollectionName, Condition, Hit
from vectorstore.sparse import SparseVector
from vectorstore.store import PointRecord, VectorStore

if TYPE_CHECKING:
    from core.settings import Settings
    from vectorstore.embeddings import Embedder, FloatMatrix

log = logging.getLogger(__name__)

_SOCKET_NAME = "vectors.sock"
_MAX_SOCKET_PATH = 100  # AF_UNIX paths are limited to 108 bytes

# What a client may ask the owner: the backend primitives of `VectorStore`, plus embedding.
_STORE_OPS = frozenset({"_upsert", "_query", "_query_sparse", "_query_hybrid", "_scroll", "_vector_of",
                        "_count", "_delete", "optimize"})
_EMBED_OPS = frozenset({"embed"})


class VectorServiceUnavailable(RuntimeError):
    """The process that owns the embedded engine is not answering (starting, restarting, stopped)."""


def service_address(data_dir: Path) -> str:
    """The socket of DATA_DIR's vector service: a file in DATA_DIR, or (Linux, when that path is too
    long for a Unix socket) an abstract-namespace name derived from it."""
    root = data_dir.resolve()
    path = root / _SOCKET_NAME
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return str(path)
    if not sys.platform.startswith("linux"):
        raise ValueError(f"DATA_DIR path too long for the vector service socket: {path}")
    return "\0loyalty-agent-vectors-" + hashlib.sha256(str(root).encode()).hexdigest()[:24]


def service_authkey(settings: Settings) -> bytes:
    return settings.resolved_vector_service_key().encode()


class VectorService:
    """Serves a store's primitives and an embedder's `embed` to other processes (one thread per client)."""

    def __init__(self, store: VectorStore, embedder: Embedder | None, *, address: str, authkey: bytes) -> None:
        self.store, self.embedder = store, embedder
        self.address, self._authkey = address, authkey
        self._listener: Listener | None = None
        self._stopped = threading.Event()

    def start(self) -> VectorService:
        if not self.address.startswith("\0"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.address)  # a socket file left by a killed owner
        old_umask = os.umask(0o177)  # the socket file is the owner's only (0600)
        try:
            self._listener = Listener(self.address, family="AF_UNIX", authkey=self._authkey)
        finally:
            os.umask(old_umask)
        threading.Thread(target=self._accept_loop, name="vector-service", daemon=True).start()
        log.info("vector service listening on %s", self.address.replace("\0", "@"))
        return self

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            try:
                conn = self._listener.accept()
            except Exception:  # a failed handshake (wrong key) or the listener closed by stop()
                if self._stopped.is_set():
                    return
                log.warning("vector service: refused a connection", exc_info=True)
                continue
            threading.Thread(target=self._serve, args=(conn,), name="vector-service-client", daemon=True).start()

    def _serve(self, conn: Connection) -> None:
        with conn:
            while not self._stopped.is_set():
                try:
                    op, args = conn.recv()
                except (EOFError, OSError):
                    return
                try:
                    reply: tuple[str, Any] = ("ok", self._call(op, args))
                except Exception as exc:  # the caller gets the error; the service keeps serving
                    reply = ("error", f"{type(exc).__name__}: {exc}")
                try:
                    conn.send(reply)
                except (OSError, ValueError):
                    return

    def _call(self, op: str, args: tuple[Any, ...]) -> Any:
        if op == "ping":
            return "pong"
        if op in _STORE_OPS:
            return getattr(self.store, op)(*args)
        if op in _EMBED_OPS and self.embedder is not None:
            return self.embedder.embed(*args)
        raise ValueError(f"unknown vector service operation {op!r}")

    def stop(self) -> None:
        self._stopped.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()  # also removes the socket file


class _Channel:
    """One connection per thread to the service; reconnects after the owner restarted."""

    def __init__(self, address: str, authkey: bytes, *, timeout_s: float = 30.0) -> None:
        self.address, self._authkey, self._timeout_s = address, authkey, timeout_s
        self._local = threading.local()

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = Client(self.address, family="AF_UNIX", authkey=self._authkey)
            except (OSError, EOFError) as exc:
                raise VectorServiceUnavailable(f"vector service not reachable: {exc}") from exc
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()

    def call(self, op: str, *args: Any) -> Any:
        # A connection that broke since the last call (owner restarted) fails on first use: retry once
        # on a fresh one. A request may then run twice; every operation served is idempotent.
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.send((op, args))
                if not conn.poll(self._timeout_s):
                    self._drop()
                    raise VectorServiceUnavailable(f"vector service did not answer {op} in {self._timeout_s}s")
                status, value = conn.recv()
                break
            except (EOFError, OSError) as exc:
                self._drop()
                if attempt == 2:
                    raise VectorServiceUnavailable(f"vector service connection lost: {exc}") from exc
        if status != "ok":
            raise RuntimeError(f"vector service: {value}")
        return value

    def close(self) -> None:
        self._drop()


class RemoteVectorStore(VectorStore):
    """The owner's embedded store, reached through its `VectorService`. Collections are created by
    the owner when it starts, so `ensure_collections` here checks nothing and never blocks start-up."""

    def __init__(self, address: str, authkey: bytes) -> None:
        self._channel = _Channel(address, authkey)

    @classmethod
    def for_settings(cls, settings: Settings) -> RemoteVectorStore:
        return cls(service_address(settings.data_dir), service_authkey(settings))

    def ping(self) -> bool:
        try:
            return bool(self._channel.call("ping") == "pong")
        except VectorServiceUnavailable:
            return False

    def _create_collections(self, dim: int) -> None:
        return None

    def _upsert(self, collection: CollectionName, records: list[PointRecord]) -> None:
        self._channel.call("_upsert", collection, records)

    def _query(self, collection: CollectionName, vector: list[float], conditions: list[Condition],
               limit: int) -> list[Hit]:
        return list(self._channel.call("_query", collection, vector, conditions, limit))

    def _query_sparse(self, collection: CollectionName, sparse: SparseVector, conditions: list[Condition],
                      limit: int) -> list[Hit]:
        return list(self._channel.call("_query_sparse", collection, sparse, conditions, limit))

    def _query_hybrid(self, collection: CollectionName, vector: list[float], sparse: SparseVector,
                      conditions: list[Condition], limit: int) -> list[Hit]:
        return list(self._channel.call("_query_hybrid", collection, vector, sparse, conditions, limit))

    def _scroll(self, collection: CollectionName, conditions: list[Condition], limit: int,
                newest_first_by: str | None) -> list[Hit]:
        return list(self._channel.call("_scroll", collection, conditions, limit, newest_first_by))

    def _vector_of(self, collection: CollectionName, point_id: str) -> list[float] | None:
        value = self._channel.call("_vector_of", collection, point_id)
        return None if value is None else list(value)

    def _count(self, collection: CollectionName, conditions: list[Condition]) -> int:
        return int(self._channel.call("_count", collection, conditions))

    def _delete(self, collection: CollectionName, conditions: list[Condition]) -> None:
        self._channel.call("_delete", collection, conditions)

    def optimize(self) -> None:
        self._channel.call("optimize")

    def close(self) -> None:
        self._channel.close()


class RemoteEmbedder:
    """The owner's embedder through its `VectorService`: this process never loads the model."""

    def __init__(self, address: str, authkey: bytes, *, dim: int) -> None:
        self._channel = _Channel(address, authkey)
        self._dim = dim

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: list[str]) -> FloatMatrix:
        import numpy as np

        return np.asarray(self._channel.call("embed", list(texts)), dtype=np.float32)


def through_running_owner(settings: Settings) -> Settings:
    """`settings` set to go through the vector service when a worker process of this DATA_DIR owns the
    embedded engine right now (CLI commands run next to `serve`); else unchanged (they open it themselves)."""
    if settings.qdrant_url or settings.vector_service:
        return settings
    probe = RemoteVectorStore.for_settings(settings)
    try:
        running = probe.ping()
    finally:
        probe.close()
    return settings.model_copy(update={"vector_service": True}) if running else settings
