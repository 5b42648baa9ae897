"""Decision work in supervised worker processes, never in the API process.

`serve` (API) and `worker --processes N` (no API) both start a `WorkerSupervisor`, which runs N child
processes (`loyalty-agent worker-process --slot i`) and stops them with itself:

    supervisor --spawn--> child running --exits while supervising--> waiting (backoff) --> spawn again
                              |
                              +--stop(): SIGTERM, finish the current event, exit; SIGKILL after a grace period

A child that dies (crash, OOM, SIGKILL) loses nothing: its claimed inbox rows come back when their
lease expires and the offer graph resumes from its last checkpoint. Restarts back off exponentially
(1 s .. 30 s) and the backoff resets once a child has run for a minute. A child whose supervisor died
notices (its parent changes) and stops, so no orphan keeps claiming work.

Slot 0 runs the message sender and owns the embedded vector engine when there is no QDRANT_URL: it
serves the engine and the embedder to the other processes (vectorstore.service), which are started
with VECTOR_SERVICE=true (the API process included). Children read their settings from the
environment and the working directory, as the supervisor's own process did.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from core.gc_tuning import freeze_startup_heap
from core.settings import Settings

log = logging.getLogger(__name__)

RESTART_BACKOFF_S = (1.0, 30.0)  # first delay, cap
STABLE_AFTER_S = 60.0  # a child that ran this long restarts without backoff history
STOP_GRACE_S = 30.0  # time to finish the event in hand before SIGKILL
# Worker processes run this much nicer than the API: on shared cores a decision (seconds of CPU, nobody
# waiting on it) yields to a webhook ack (the POS waits on it); with idle cores nothing changes.
WORKER_NICENESS = 5


def owns_vectors(settings: Settings) -> bool:
    """Whether worker slot 0 owns the embedded engine (no Qdrant server configured)."""
    return not settings.qdrant_url


def worker_processes_for(settings: Settings, requested: int) -> int:
    """SQLite takes one writer process; PostgreSQL as many as asked."""
    return min(requested, 1) if settings.is_sqlite else requested


@dataclass
class _Child:
    slot: int
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0  # consecutive short-lived runs
    restart_at: float = 0.0
    restarts: int = 0


class WorkerSupervisor:
    """Starts, watches and stops the worker processes of one deployment."""

    def __init__(self, settings: Settings, *, processes: int, poll_s: float = 0.2) -> None:
        if processes < 1:
            raise ValueError("processes must be >= 1")
        self.settings = settings
        self.children = [_Child(slot) for slot in range(processes)]
        self.poll_s = poll_s
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _env(self, slot: int) -> dict[str, str]:
        env = dict(os.environ)
        # Every process but the owner reaches the embedded engine through the owner's service.
        env["VECTOR_SERVICE"] = "true" if owns_vectors(self.settings) and slot > 0 else "false"
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
        return env

    def _spawn(self, child: _Child) -> None:
        cmd = [sys.executable, "-m", "loyalty_agent", "worker-process", "--slot", str(child.slot)]
        child.proc = subprocess.Popen(cmd, env=self._env(child.slot), stdin=subprocess.DEVNULL)
        with contextlib.suppress(ProcessLookupError):  # already gone: the watcher restarts it
            os.setpriority(os.PRIO_PROCESS, child.proc.pid, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS)
        child.started_at = time.monotonic()
        log.info("worker process slot %d started (pid %d)", child.slot, child.proc.pid)

    def start(self) -> WorkerSupervisor:
        with self._lock:
            for child in self.children:
                self._spawn(child)
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)
        self._thread.start()
        return self

    def pids(self) -> list[int]:
        with self._lock:
            return [c.proc.pid for c in self.children if c.proc is not None and c.proc.poll() is None]

    def _watch(self) -> None:
        while not self._stopping.wait(self.poll_s):
            with self._lock:
                if self._stopping.is_set():
                    return
                now = time.monotonic()
                for child in self.children:
                    self._check(child, now)

    def _check(self, child: _Child, now: float) -> None:
        if child.proc is None:
            if now >= child.restart_at:
                child.restarts += 1
                self._spawn(child)
            return
        code = child.proc.poll()
        if code is None:
            return
        ran = now - child.started_at
        child.failures = 0 if ran >= STABLE_AFTER_S else child.failures + 1
        first, cap = RESTART_BACKOFF_S
        delay = 0.0 if child.failures == 0 else min(cap, first * 2 ** (child.failures - 1))
        log.error("worker process slot %d (pid %d) exited with %s after %.1fs; restarting in %.1fs",
                  child.slot, child.proc.pid, code, ran, delay)
        child.proc, child.restart_at = None, now + delay

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM every child, wait for them to finish their event, SIGKILL what is left."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            procs = [c.proc for c in self.children if c.proc is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker process %d did not stop in %.0fs; killing it", proc.pid, grace_s)
                proc.kill()
                proc.wait()
        log.info("worker processes stopped")


def supervised(processes: int) -> Callable[[Settings, Engine], Callable[[], None]]:
    """For `create_app(background=...)`: the worker processes start and stop with the API."""

    def start(settings: Settings, _engine: Engine) -> Callable[[], None]:
        supervisor = WorkerSupervisor(settings, processes=processes).start()
        freeze_startup_heap()  # the API process is built: no full collection walks it again mid-request
        return supervisor.stop

    return start


def worker_process_settings(settings: Settings) -> Settings:
    """A worker process's settings: unless EMBEDDING_THREADS says otherwise, the embedder (slot 0's indexer
    and vector service) leaves the decisions beside it a core."""
    from vectorstore.embeddings import default_torch_threads

    if settings.embedding_threads is not None:
        return settings
    return settings.model_copy(update={"embedding_threads": default_torch_threads(beside_decisions=True)})


def warm_local_embedder(embedder: object) -> None:
    """Load the local model now (its import and weights are start-up, not the first sale's indexing)."""
    from vectorstore.embeddings import LocalEmbedder

    if isinstance(embedder, LocalEmbedder) and not embedder.loaded:
        embedder.embed(["warm-up"])


def run_worker_process(settings: Settings, engine: Engine, *, slot: int) -> None:
    """The body of one worker process: inbox worker (+ sender, vector owner on slot 0) until SIGTERM/SIGINT
    or until its supervisor is gone."""
    settings = worker_process_settings(settings)
    from agent.runner import get_agent, shutdown_agents
    from loyalty_agent.services import BackgroundServices, start_background_index
    from vectorstore.factory import close_vector_stores

    service = None
    if slot == 0 and owns_vectors(settings) and not settings.vector_service:
        from vectorstore.service import VectorService, service_address

        agent = get_agent(settings, engine)  # opens the engine and creates the collections
        if agent.ctx.vector_store is not None:
            service = VectorService(agent.ctx.vector_store, agent.ctx.embedder,
                                    address=service_address(settings.data_dir),
                                    authkey=settings.resolved_vector_service_key().encode()).start()
    services = BackgroundServices(settings, engine, workers=1, sender=slot == 0).start()
    if slot == 0 and settings.index_on_start:
        start_background_index(settings, engine)
    if service is not None:
        warm_local_embedder(service.embedder)
    freeze_startup_heap()  # libraries, model and agent built: full collections skip them from now on

    def _stop(*_args: object) -> None:
        services.request_stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    parent = os.getppid()

    def _watch_parent() -> None:
        while not services.stopping():
            if os.getppid() != parent:
                log.error("supervisor %d is gone; worker process %d stops", parent, os.getpid())
                services.request_stop()
                return
            time.sleep(1.0)

    threading.Thread(target=_watch_parent, name="parent-watch", daemon=True).start()
    services.wait()
    if service is not None:
        service.stop()
    shutdown_agents()
    close_vector_stores()
