"""Keeping profiles and purchase vectors current: per transaction (update_profile) and in batch."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from agent.context import AgentContext
from agent.facts import customer_facts
from core.schemas import CustomerFacts
from core.settings import Settings
from db.engine import core_connection, get_engine, migrate
from db.tables import Customer, Merchant
from db.types import utcnow
from profiles.document import profile_document, purchase_document
from profiles.features import ProfileFeatures, compute_features, compute_features_batch
from profiles.fit import fit_model_from_visits, gross_margin, load_all_visits, load_visits
from profiles.visits import Visit, day_part
from vectorstore.embeddings import Embedder
from vectorstore.factory import get_embedder, get_vector_store
from vectorstore.points import ProfilePoint, PurchasePoint
from vectorstore.store import VectorStore

log = logging.getLogger(__name__)

PURCHASES_PER_CUSTOMER_IN_BATCH = (
    3  # the batch index keeps recent visits; live sales add theirs (embedding is the cost)
)
EMBED_BATCH = 256
# A guest's row as plain column values (every column, so `customer_facts` finds what it reads): cheaper
# than an ORM load, and built once.
_CUSTOMER_TABLE: Table = Customer.__table__  # type: ignore[attr-defined]
_CUSTOMER_ROW = sa_select(*_CUSTOMER_TABLE.c).where(_CUSTOMER_TABLE.c.id == bindparam("customer_id"))


def profile_point(
    features: ProfileFeatures, facts: CustomerFacts, *, merchant_id: str, customer_id: int, document: str, vector: Any
) -> ProfilePoint:
    return ProfilePoint(
        merchant_id=merchant_id,
        customer_id=customer_id,
        pseudonym=facts.pseudonym,
        document=document,
        vector=vector,
        tier=facts.tier,
        churn_risk=features.churn_risk,
        visits_12m=features.visits_12m,
        spend_12m_cents=features.spend_12m_cents,
        weekend_share=features.weekend_share,
        dessert_share=features.dessert_share,
        alcohol_share=features.alcohol_share,
        brunch_share=features.brunch_share,
        lapsed=features.lapsed,
        favourite_categories=[c.name for c in features.favourite_categories],
        extra={
            "favourite_skus": [f.sku for f in features.favourite_items],
            "kids_share": features.kids_share,
            "lifecycle": features.lifecycle,
            "expected_next_visit_at": features.expected_next_visit_at.isoformat(),
            "clv_12m_cents": features.clv_12m_cents,
            "top_day_part": features.top_day_part,
        },
    )


def purchase_point(
    visit: Visit, *, merchant_id: str, customer_id: int, pseudonym: str, document: str, vector: Any
) -> PurchasePoint:
    assert visit.transaction_id is not None
    return PurchasePoint(
        merchant_id=merchant_id,
        customer_id=customer_id,
        transaction_id=visit.transaction_id,
        pseudonym=pseudonym,
        occurred_at=visit.occurred_at,
        day_part=day_part(visit.local_time()),
        document=document,
        vector=vector,
        skus=[ln[0] for ln in visit.lines],
        categories=sorted({ln[2] for ln in visit.lines if ln[2]}),
        total_cents=visit.total_cents,
    )


@dataclass(frozen=True)
class IndexJob:
    merchant_id: str
    customer_id: int
    pseudonym: str
    features: ProfileFeatures
    facts: CustomerFacts
    visit: Visit | None


def run_index_jobs(jobs: list[IndexJob], *, store: VectorStore, embedder: Embedder) -> None:
    """Embed the profile documents (+ the visits) of `jobs` in one batch and upsert them; idempotent
    (deterministic point ids). Of several jobs for one guest only the last profile is kept (it is the
    newest), while every visit is indexed."""
    latest = {(j.merchant_id, j.customer_id): j for j in jobs}
    profiles = list(latest.values())
    visits = [j for j in jobs if j.visit is not None]
    profile_docs = [profile_document(j.features, j.facts) for j in profiles]
    visit_docs = [purchase_document(j.visit) for j in visits if j.visit is not None]
    vectors = embedder.embed(profile_docs + visit_docs)
    store.upsert_profiles([
        profile_point(j.features, j.facts, merchant_id=j.merchant_id, customer_id=j.customer_id, document=doc,
                      vector=vec)
        for j, doc, vec in zip(profiles, profile_docs, vectors[: len(profiles)], strict=True)
    ])
    store.upsert_purchases([
        purchase_point(j.visit, merchant_id=j.merchant_id, customer_id=j.customer_id, pseudonym=j.pseudonym,
                       document=doc, vector=vec)
        for j, doc, vec in zip(visits, visit_docs, vectors[len(profiles):], strict=True) if j.visit is not None
    ])


def run_index_job(job: IndexJob, *, store: VectorStore, embedder: Embedder) -> None:
    run_index_jobs([job], store=store, embedder=embedder)


class VectorIndexer:
    """Embeds and upserts vectors off the decision path, in batches.

    Embedding costs tens of milliseconds on an idle CPU and far more on a busy one, and it shares the
    worker's CPU and interpreter with the decisions: a checkout decision should neither wait for it nor
    be slowed by it one sale at a time. So jobs wait for a pause in submissions (`quiet_s`, at most
    `max_delay_s`) and are embedded together: one model call for a burst instead of one per sale, which
    under load costs a fraction of the per-sale calls (benchmarks/decision.py). The decision reads the
    guest's features (computed synchronously) and the previous profile vector; vectors catch up moments
    later. A job lost in a crash is repaired by the guest's next sale or `loyalty-agent reindex`.
    """

    def __init__(self, *, store: VectorStore, embedder: Embedder, quiet_s: float = 0.3, max_delay_s: float = 2.0,
                 max_batch: int = 128) -> None:
        self.store, self.embedder = store, embedder
        self.quiet_s, self.max_delay_s, self.max_batch = quiet_s, max_delay_s, max_batch
        self._queue: queue.Queue[IndexJob | None] = queue.Queue()
        self._last_submit = 0.0
        self.done = 0
        self.batches = 0
        self.busy_s = 0.0
        self._thread = threading.Thread(target=self._run, name="vector-indexer", daemon=True)
        self._thread.start()

    def submit(self, job: IndexJob) -> None:
        self._last_submit = time.monotonic()
        self._queue.put(job)

    def flush(self) -> None:
        """Wait until every submitted job is indexed (tests, benchmarks, shutdown)."""
        self._queue.join()

    def close(self) -> None:
        """Stop: finish the batch in hand, drop the queued jobs (the next sale or a reindex repairs them).

        Joins the thread so no embedding is mid-flight when the interpreter exits (torch aborts then).
        """
        dropped = 0
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
            self._queue.task_done()
            dropped += 1
        if dropped:
            log.warning("vector indexer stopped with %d queued jobs dropped", dropped)
        self._queue.put(None)
        self._thread.join()

    def _next_batch(self) -> tuple[list[IndexJob], bool]:
        """Block for a job, wait for a pause (bounded), take what is queued; (jobs, stop requested)."""
        first = self._queue.get()
        if first is None:
            return [], True
        since = time.monotonic()
        while True:
            now = time.monotonic()
            if now - self._last_submit >= self.quiet_s or now - since >= self.max_delay_s:
                break
            time.sleep(min(self.quiet_s, 0.05))
        jobs, stop = [first], False
        while len(jobs) < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                stop = True
                break
            jobs.append(job)
        return jobs, stop

    def _run(self) -> None:
        while True:
            jobs, stop = self._next_batch()
            try:
                if jobs:
                    started = time.perf_counter()
                    run_index_jobs(jobs, store=self.store, embedder=self.embedder)
                    self.busy_s += time.perf_counter() - started
                    self.done += len(jobs)
                    self.batches += 1
            except Exception:
                log.exception("vector indexing failed for customers %s", sorted({j.customer_id for j in jobs}))
            finally:
                for _ in jobs:
                    self._queue.task_done()
            if stop:
                self._queue.task_done()
                return


def refresh_customer(
    ctx: AgentContext,
    *,
    merchant_id: str,
    customer_id: int,
    transaction_id: int | None = None,
    session: Session | None = None,
) -> ProfileFeatures | None:
    """One customer's features as of the sale `transaction_id` happened (as of now without one; None: no
    visit yet), and their profile (+ this visit) upserted into Qdrant, in the background when the
    context has an indexer, else inline.

    The two may differ: a sale that arrives out of order is decided on what was known when it happened
    (later visits ignored), while the stored profile is always the features as of the newest visit, a
    function of the set of visits alone, so it ends the same whatever order sales arrive in. Reads go
    through `session` when given (the caller's transaction).
    """
    with ctx.reading(session) as reader:
        row = core_connection(reader).execute(_CUSTOMER_ROW, {"customer_id": customer_id}).one_or_none()
        assert row is not None
        customer = Customer(**row._mapping)  # transient, never added to a session: the row's values, typed
        visits = load_visits(reader, customer_id=customer_id)
    model = ctx.merchant_model(merchant_id)
    visit = next((v for v in visits if v.transaction_id == transaction_id), None)
    as_of = visit.occurred_at if visit is not None else ctx.now()
    features = compute_features(visits, model=model, now=as_of, customer_id=customer_id)
    if features is None:
        return None
    if ctx.vector_store is not None and ctx.embedder is not None:
        newest = max(v.occurred_at for v in visits)
        profile = features if newest <= as_of else compute_features(visits, model=model, now=newest,
                                                                      customer_id=customer_id)
        assert profile is not None
        job = IndexJob(
            merchant_id=merchant_id,
            customer_id=customer_id,
            pseudonym=customer.pseudonym,
            features=profile,
            facts=customer_facts(customer, None),
            visit=visit,
        )
        if ctx.indexer is not None:
            ctx.indexer.submit(job)
        else:
            run_index_job(job, store=ctx.vector_store, embedder=ctx.embedder)
    return features


def index_merchant(
    session: Session,
    *,
    merchant_id: str,
    store: VectorStore,
    embedder: Embedder,
    now: datetime,
    purchases_per_customer: int = PURCHASES_PER_CUSTOMER_IN_BATCH,
) -> int:
    """Batch: fit the merchant's model, compute every customer's features, embed and upsert.

    Upserts go in chunks as they are embedded, so search works (on what is indexed so far) while a
    long index build runs in the background of a serving process.
    """
    visits_by_customer = load_all_visits(session, merchant_id=merchant_id)
    model = fit_model_from_visits(visits_by_customer, now=now, margin=gross_margin(session, merchant_id=merchant_id))
    features = compute_features_batch(visits_by_customer, model=model, now=now)
    customers = {c.id: c for c in session.exec(select(Customer).where(col(Customer.merchant_id) == merchant_id))}
    ids = [cid for cid in features if cid in customers]
    facts = {cid: customer_facts(customers[cid], None) for cid in ids}
    for i in range(0, len(ids), EMBED_BATCH):
        chunk = ids[i : i + EMBED_BATCH]
        docs = [profile_document(features[cid], facts[cid]) for cid in chunk]
        vectors = embedder.embed(docs)
        store.upsert_profiles(
            [
                profile_point(
                    features[cid], facts[cid], merchant_id=merchant_id, customer_id=cid, document=doc, vector=vec
                )
                for cid, doc, vec in zip(chunk, docs, vectors, strict=True)
            ]
        )
    recent = (
        [
            (cid, v)
            for cid in ids
            for v in visits_by_customer[cid][-purchases_per_customer:]
            if v.transaction_id is not None
        ]
        if purchases_per_customer
        else []
    )
    for i in range(0, len(recent), EMBED_BATCH):
        part = recent[i : i + EMBED_BATCH]
        pdocs = [purchase_document(v) for _, v in part]
        pvectors = embedder.embed(pdocs)
        store.upsert_purchases(
            [
                purchase_point(
                    v,
                    merchant_id=merchant_id,
                    customer_id=cid,
                    pseudonym=customers[cid].pseudonym,
                    document=doc,
                    vector=vec,
                )
                for (cid, v), doc, vec in zip(part, pdocs, pvectors, strict=True)
            ]
        )
    log.info(
        "indexed merchant %s: %d profiles, %d purchases (model %s)", merchant_id, len(ids), len(recent), model.source
    )
    return len(ids)


def reindex_all(
    settings: Settings,
    *,
    only_if_empty: bool = False,
    store: VectorStore | None = None,
    embedder: Embedder | None = None,
    merchants: list[str] | None = None,
) -> int:
    """Index every merchant (or those in `merchants`); with `only_if_empty`, do nothing when profiles are
    already indexed."""
    migrate(settings.database_url)
    engine = get_engine(settings.database_url)
    embedder = embedder or get_embedder(settings)
    store = store or get_vector_store(settings, dim=embedder.dim)
    if only_if_empty and store.count("profiles") > 0:
        return 0
    total = 0
    with Session(engine) as session:
        for merchant in session.exec(select(Merchant)).all():
            if merchants is not None and merchant.id not in merchants:
                continue
            total += index_merchant(session, merchant_id=merchant.id, store=store, embedder=embedder, now=utcnow())
    store.optimize()
    return total
