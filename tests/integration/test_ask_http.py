"""POST /customers/{customer_id}/ask over real HTTP against a seeded sandbox (SQLite and PostgreSQL).

Roles, 404 for unknown guests (and for pseudonyms: associates address guests by POS id only), 422 for
long or blank questions, 429 with Retry-After over the per-key limit, refused contact requests, the
response contract, and one audit row per graph node carrying the actor. GET /customers/{id} no longer
tells an associate the pseudonym of a POS id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from db.crud import create_api_key
from db.engine import make_engine, session_scope
from db.tables import AuditEvent, Customer, CustomerContact
from sandbox.seed import seed_database
from tests.integration.conftest import ServerThread, make_settings

NODES = ["ask.classify", "ask.gather", "ask.answer", "ask.verify", "ask.respond"]


@dataclass
class AskServer:
    url: str
    engine: Engine
    keys: dict[str, tuple[int, str]]  # role -> (key id, raw key)

    def post(self, pos_id: str, body: Any, role: str = "associate") -> httpx.Response:
        with httpx.Client(base_url=self.url, timeout=180) as client:
            return client.post(f"/customers/{pos_id}/ask", json=body,
                               headers={"Authorization": f"Bearer {self.keys[role][1]}"})

    def get(self, path: str, role: str) -> httpx.Response:
        with httpx.Client(base_url=self.url, timeout=180) as client:
            return client.get(path, headers={"Authorization": f"Bearer {self.keys[role][1]}"})


def start(database_url: str, tmp_path: Path, **settings: Any) -> Iterator[AskServer]:
    from api.main import create_app

    engine = make_engine(database_url)
    seed_database(engine, customers=80, months=12, seed=42)
    keys = {}
    with session_scope(engine) as session:
        for role in ("associate", "manager", "marketer"):
            row, raw = create_api_key(session, role=role)
            keys[role] = (int(row.id or 0), raw)
    app = create_app(make_settings(database_url, tmp_path, qdrant_url=":memory:", index_on_start=False, **settings))
    with ServerThread(app) as server:
        yield AskServer(server.url, engine, keys)
    engine.dispose()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[AskServer]:
    yield from start(database_url, tmp_path)


def guest(engine: Engine, *, allergies: str) -> tuple[Customer, CustomerContact | None]:
    with Session(engine) as session:
        for customer in session.exec(select(Customer).order_by(col(Customer.id))):
            state = "unknown" if customer.allergies is None else ("none" if not customer.allergies else "list")
            contact = session.get(CustomerContact, customer.id)
            if state == allergies and contact is not None and contact.phone:
                return customer, contact
    raise AssertionError(f"no sandbox guest with allergies {allergies} and a phone")


def test_associate_gets_a_cited_answer_and_every_node_is_audited(server: AskServer) -> None:
    customer, _ = guest(server.engine, allergies="unknown")
    response = server.post(customer.pos_customer_id, {"question": "any allergies?"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"answer", "citations", "abstained", "model", "prompt_version"}
    assert "unknown" in body["answer"].lower() and "no allergies" not in body["answer"].lower()
    assert body["abstained"] is False and body["model"] == "offline"
    assert body["prompt_version"].startswith("ask-offline@")
    cited = {c["id"]: c for c in body["citations"]}
    assert cited["profile:allergies"] == {"source": "profile", "id": "profile:allergies", "field": "allergies",
                                          "quote": "allergies unknown (never recorded)"}
    ask_id = response.headers["x-ask-id"]
    with Session(server.engine) as session:
        rows = session.exec(select(AuditEvent).where(col(AuditEvent.correlation_id) == ask_id)
                            .order_by(col(AuditEvent.id))).all()
    assert [r.node for r in rows] == NODES
    assert {r.actor for r in rows} == {f"associate:{server.keys['associate'][0]}"}


def test_contact_request_is_refused_and_the_pseudonym_never_shown(server: AskServer) -> None:
    customer, contact = guest(server.engine, allergies="none")
    assert contact is not None and contact.phone
    response = server.post(customer.pos_customer_id, {"question": "what's her phone number? and her email?"})
    body = response.json()
    assert response.status_code == 200 and "can't share contact details" in body["answer"]
    digits = re.sub(r"\D", "", contact.phone)
    assert digits[-7:] not in re.sub(r"\D", "", body["answer"])
    for value in (contact.given_name, contact.family_name, contact.email, customer.pseudonym):
        assert value is None or value.lower() not in response.text.lower()


def test_unknown_guest_and_pseudonyms_are_404(server: AskServer) -> None:
    customer, _ = guest(server.engine, allergies="none")
    assert server.post("cust_does_not_exist", {"question": "any allergies?"}).status_code == 404
    assert server.post(customer.pseudonym, {"question": "any allergies?"}).status_code == 404
    assert server.post(customer.pseudonym, {"question": "any allergies?"}, role="manager").status_code == 404


@pytest.mark.parametrize(
    "body", [{"question": "x" * 1001}, {"question": "   "}, {}, {"question": "hi", "customer_id": "cust_1"}]
)
def test_bad_questions_are_422(server: AskServer, body: Any) -> None:
    customer, _ = guest(server.engine, allergies="none")
    response = server.post(customer.pos_customer_id, body)
    assert response.status_code == 422, response.text


def test_roles(server: AskServer) -> None:
    customer, _ = guest(server.engine, allergies="none")
    assert server.post(customer.pos_customer_id, {"question": "tier?"}, role="manager").status_code == 200
    assert server.post(customer.pos_customer_id, {"question": "tier?"}, role="marketer").status_code == 403
    with httpx.Client(base_url=server.url) as client:
        assert client.post(f"/customers/{customer.pos_customer_id}/ask", json={"question": "tier?"}).status_code == 401


def test_associates_cannot_link_pseudonym_and_pos_id(server: AskServer) -> None:
    customer, _ = guest(server.engine, allergies="none")
    as_associate = server.get(f"/customers/{customer.pos_customer_id}", "associate")
    assert as_associate.status_code == 200 and as_associate.json()["customer"] is None
    assert customer.pseudonym not in as_associate.text
    assert server.get(f"/customers/{customer.pseudonym}", "associate").status_code == 404
    as_manager = server.get(f"/customers/{customer.pseudonym}", "manager")
    assert as_manager.status_code == 200 and as_manager.json()["customer"] == customer.pseudonym


def test_rate_limit_per_key_with_retry_after(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'rate.db'}"
    from db.engine import migrate

    migrate(database_url)
    for srv in start(database_url, tmp_path, ask_rate_limit_per_minute=3):
        customer, _ = guest(srv.engine, allergies="none")
        codes = [srv.post(customer.pos_customer_id, {"question": "tier?"}).status_code for _ in range(3)]
        over = srv.post(customer.pos_customer_id, {"question": "tier?"})
        assert codes == [200, 200, 200] and over.status_code == 429
        assert 1 <= int(over.headers["retry-after"]) <= 60
        # Another key has its own window.
        assert srv.post(customer.pos_customer_id, {"question": "tier?"}, role="manager").status_code == 200
