"""The world the ask suite runs in: a seeded sandbox restaurant, the clock pinned after its history,
a few offers handed to guests (the sandbox has none), and the ask agent on top.

Everything the agent reads is real: SQLite via SQLModel, the merchant's BG/NBD fit, Presidio for
staff notes, and (for open questions) the packaged MiniLM embedder with an embedded Qdrant store
holding the purchase vectors of the guests that open-question cases ask about.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.ask.context import DEFAULT_MODEL_INTENTS
from agent.ask.service import AskAgent, build_ask_agent
from agent.context import AgentContext
from core.settings import Settings
from db.engine import get_engine, migrate, session_scope
from db.offers import PENDING_REVIEW, SENT
from db.tables import Customer, Offer, PromoCode
from sandbox.restaurant import DEFAULT_END
from sandbox.seed import seed_database

SANDBOX_NOW = datetime.combine(DEFAULT_END + timedelta(days=1), time(17, 0), tzinfo=UTC)  # noon in New York
DEFAULT_CUSTOMERS = 300
DEFAULT_SEED = 42
ALL_INTENTS = frozenset({"usual_order", "visits", "allergies", "points", "birthday", "offers", "channels", "suggest",
                         "notes", "item_history", "overview", "unsupported"})


@dataclass
class AskWorld:
    settings: Settings
    engine: Engine
    ctx: AgentContext

    def agent(self, *, model_settings: Settings | None = None, model_for: str = "open") -> AskAgent:
        """The ask agent; with `model_settings` (LLM_PROVIDER=openai) the model answers open questions
        (`model_for="open"`, as in production) or every question it may take (`"all"`)."""
        intents = ALL_INTENTS if model_for == "all" else DEFAULT_MODEL_INTENTS
        return build_ask_agent(model_settings or self.settings, self.ctx, model_intents=intents)


def build_world(data_dir: Path, *, customers: int = DEFAULT_CUSTOMERS, seed: int = DEFAULT_SEED) -> AskWorld:
    from agent.runner import build_agent

    settings = Settings(data_dir=data_dir, pos_webhook_secret="evals", pseudonym_secret="evals")
    migrate(settings.database_url)
    engine = get_engine(settings.database_url)
    seed_database(engine, customers=customers, seed=seed)
    ctx = build_agent(settings, engine, with_vectors=False).ctx
    ctx.clock = lambda: SANDBOX_NOW
    hand_out_offers(engine)
    return AskWorld(settings=settings, engine=engine, ctx=ctx)


def hand_out_offers(engine: Engine) -> None:
    """A sent offer with a live code for every 20th guest and one awaiting review for every 35th."""
    with session_scope(engine) as session:
        customers = session.exec(select(Customer).order_by(col(Customer.id))).all()
        for index, customer in enumerate(customers):
            if index % 20 == 7:
                offer_id, code = f"off_eval_{customer.id}", f"HV-EVAL-{customer.id:04d}"
                session.add(Offer(id=offer_id, merchant_id=customer.merchant_id, customer_id=customer.id or 0,
                                  status=SENT, offer_type="percent_off_item", sku="TRUFFLE-FRIES", discount_pct=15,
                                  channel="sms", promo_code=code, expires_at=SANDBOX_NOW + timedelta(days=10),
                                  created_at=SANDBOX_NOW - timedelta(days=3)))
                session.flush()
                session.add(PromoCode(idempotency_key=f"eval:{offer_id}", code=code, merchant_id=customer.merchant_id,
                                      offer_id=offer_id, customer_id=customer.id, sku="TRUFFLE-FRIES",
                                      discount_pct=15, expires_at=SANDBOX_NOW + timedelta(days=10)))
            if index % 35 == 11:
                session.add(Offer(id=f"off_eval_review_{customer.id}", merchant_id=customer.merchant_id,
                                  customer_id=customer.id or 0, status=PENDING_REVIEW, offer_type="bonus_points",
                                  bonus_points=150, channel="email", created_at=SANDBOX_NOW - timedelta(days=1)))


def index_purchases(world: AskWorld, customer_ids: Iterable[int]) -> None:
    """Embed every visit of these guests into an embedded Qdrant store and give it to the agent."""
    from agent.indexing import purchase_point
    from profiles.document import purchase_document
    from profiles.fit import load_visits
    from vectorstore.factory import get_embedder, get_vector_store

    embedder = get_embedder(world.settings)
    store = get_vector_store(world.settings, dim=embedder.dim)
    with Session(world.engine) as session:
        for customer_id in customer_ids:
            customer = session.get(Customer, customer_id)
            assert customer is not None
            visits = [v for v in load_visits(session, customer_id=customer_id) if v.transaction_id is not None]
            documents = [purchase_document(v) for v in visits]
            vectors: list[Any] = list(embedder.embed(documents)) if documents else []
            store.upsert_purchases([
                purchase_point(v, merchant_id=customer.merchant_id, customer_id=customer_id,
                               pseudonym=customer.pseudonym, document=doc, vector=vec)
                for v, doc, vec in zip(visits, documents, vectors, strict=True)
            ])
    world.ctx.vector_store, world.ctx.embedder = store, embedder
