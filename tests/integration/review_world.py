"""A running server whose review queue holds real escalated offers, for the review-workspace tests.

The sandbox restaurant is seeded, the merchant's policy sends every tier to review, and signed
`sale.completed` webhooks for guests who accept SMS go through the real inbox, worker and offer
graph until their offers wait in `pending_review`. One API key per role is created.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.signatures import sign_pos
from db.crud import create_api_key
from db.engine import session_scope
from db.tables import Customer, Offer
from sandbox.replay import sample_sales
from sandbox.seed import seed_database
from tests.integration.conftest import ServerThread, make_settings

ROLES = ("associate", "marketer", "manager", "admin")


@dataclass
class ReviewWorld:
    url: str
    engine: Engine
    keys: dict[str, str]
    """Raw API key per role."""
    key_ids: dict[str, int]
    pending: list[str]
    """Ids of offers waiting for review, oldest first."""
    app: Any

    def client(self, role: str | None = None) -> httpx.Client:
        headers = {"authorization": f"Bearer {self.keys[role]}"} if role else {}
        return httpx.Client(base_url=self.url, timeout=60, headers=headers)


@contextmanager
def review_world(database_url: str, engine: Engine, tmp_path: Path, *, sales: int = 8,
                 min_pending: int = 2, **settings_overrides: object) -> Iterator[ReviewWorld]:
    from agent.runner import get_agent
    from api.main import create_app
    from loyalty_agent.services import in_process

    seed_database(engine, customers=120, months=9, seed=17)
    keys: dict[str, str] = {}
    key_ids: dict[str, int] = {}
    with session_scope(engine) as s:
        for role in ROLES:
            key, raw = create_api_key(s, role=role, name=f"{role.title()} Tester")
            keys[role], key_ids[role] = raw, int(key.id or 0)
        reachable = {c.pos_customer_id for c in s.exec(select(Customer).where(col(Customer.consent_sms),
                                                                                col(Customer.opted_out_at).is_(None)))}
    policy = tmp_path / "policy.yaml"
    policy.write_text("escalation:\n  high_value_tiers: [member, silver, gold, vip]\n")
    settings = make_settings(database_url, tmp_path, index_on_start=False, policy_file=policy, **settings_overrides)
    app = create_app(settings, background=in_process(workers=1))
    # Build the process's agent (embedder, Presidio) before the server's start-up clock runs: on a busy
    # machine loading the models can outlast the server fixture's start-up deadline. The lifespan's
    # worker then picks up this same cached agent.
    get_agent(settings, app.state.engine).ctx.get_pseudonymizer()
    candidates = [s for s in sample_sales(engine, count=300, seed=5, now=datetime.now(UTC))
                  if s["data"].get("customer_id") in reachable]
    with ServerThread(app) as server:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            event_ids = []
            for sale in candidates[:sales]:
                body = json.dumps(sale).encode()
                r = c.post("/webhooks/pos", content=body, headers={"x-signature": sign_pos("test-secret", body)})
                assert r.status_code == 202, r.text
                event_ids.append(r.json()["event_id"])
            deadline = time.monotonic() + 300
            done: set[str] = set()
            while time.monotonic() < deadline and len(done) < len(event_ids):
                for event_id in set(event_ids) - done:
                    state = c.get(f"/events/{event_id}", headers={"authorization": f"Bearer {keys['manager']}"})
                    if state.status_code == 200 and state.json()["status"] in ("done", "failed"):
                        done.add(event_id)
                time.sleep(0.2)
            assert len(done) == len(event_ids), "every sale is decided within the time limit"
        with Session(engine) as s:
            pending = list(s.exec(select(Offer.id).where(col(Offer.status) == "pending_review")
                                  .order_by(col(Offer.created_at), col(Offer.id))).all())
        assert len(pending) >= min_pending, f"only {len(pending)} offers escalated from {len(event_ids)} sales"
        yield ReviewWorld(url=server.url, engine=app.state.engine, keys=keys, key_ids=key_ids, pending=pending,
                          app=app)
