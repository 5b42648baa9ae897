"""Run-time context of the offer graph: clients and policy, injected, never chosen by the model."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from core.schemas import CatalogFact
from core.settings import Settings
from db.types import utcnow
from guardrails.policy import Policy

CATALOG_TTL_S = 60.0

if TYPE_CHECKING:
    from sqlmodel import Session

    from agent.drafting import Drafter
    from profiles.merchant_model import MerchantModel
    from tools.pos.base import PosAdapter
    from vectorstore.embeddings import Embedder
    from vectorstore.store import VectorStore


@dataclass
class AgentContext:
    settings: Settings
    engine: Engine
    policy: Policy
    drafter: Drafter
    pos: PosAdapter
    vector_store: VectorStore | None = None
    embedder: Embedder | None = None
    pseudonymizer: Any = None  # guardrails.pii.Pseudonymizer, loaded lazily (spaCy)
    clock: Any = None  # callable returning an aware datetime; tests pin it
    indexer: Any = None  # agent.indexing.VectorIndexer: vector upserts off the decision path
    _merchant_models: dict[str, MerchantModel] = field(default_factory=dict)
    _catalogs: dict[str, tuple[dict[str, CatalogFact], float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> datetime:
        return self.clock() if self.clock is not None else utcnow()

    def on_merchant_clock(self, merchant_id: str) -> tuple[AgentContext, datetime]:
        """This context on the merchant's clock (db.clock: a sandbox's test clock pins `now`), and that now."""
        from dataclasses import replace

        from sqlmodel import Session

        from db.clock import has_test_clock, merchant_now

        with Session(self.engine) as session:
            now = merchant_now(session, merchant_id, real_now=self.now())
            pinned = has_test_clock(session, merchant_id)
        return (replace(self, clock=lambda: now) if pinned else self), now

    @contextmanager
    def reading(self, session: Session | None = None) -> Iterator[Session]:
        """`session` when the caller has one (its node's transaction: reads and audit row together), else
        a read-only session of its own."""
        if session is not None:
            yield session
            return
        from sqlmodel import Session

        with Session(self.engine) as own:
            yield own

    def merchant_model(self, merchant_id: str) -> MerchantModel:
        """The merchant's fitted BG/NBD + spend model, fitted once per process (batch refits replace it)."""
        with self._lock:
            model = self._merchant_models.get(merchant_id)
        if model is None:
            from sqlmodel import Session

            from profiles.fit import fit_merchant_model

            with Session(self.engine) as session:
                model = fit_merchant_model(session, merchant_id=merchant_id, now=self.now())
            with self._lock:
                self._merchant_models[merchant_id] = model
        return model

    def catalog(self, merchant_id: str) -> dict[str, CatalogFact]:
        """The merchant's catalog facts, cached for CATALOG_TTL_S (menus change rarely; every decision reads it)."""
        now = time.monotonic()
        with self._lock:
            hit = self._catalogs.get(merchant_id)
        if hit is not None and now - hit[1] < CATALOG_TTL_S:
            return hit[0]
        from sqlmodel import Session

        from agent.facts import load_catalog

        with Session(self.engine) as session:
            catalog = load_catalog(session, merchant_id=merchant_id)
        with self._lock:
            self._catalogs[merchant_id] = (catalog, now)
        return catalog

    def get_pseudonymizer(self) -> Any:
        with self._lock:
            if self.pseudonymizer is None:
                from guardrails.pii import Pseudonymizer

                self.pseudonymizer = Pseudonymizer()
            return self.pseudonymizer
