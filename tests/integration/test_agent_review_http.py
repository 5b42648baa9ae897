"""Review queue over HTTP against a real server: escalated offers wait, reviewers act, edits are re-checked."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from api.signatures import sign_pos
from db.crud import create_api_key
from db.engine import session_scope
from db.tables import Customer, OutboundMessage, PromoCode
from sandbox.replay import sample_sales
from sandbox.seed import seed_database
from tests.integration.conftest import ServerThread, make_settings


def _auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}", "content-type": "application/json"}


@pytest.fixture
def reviewed_server(database_url: str, engine: Engine, tmp_path: Path) -> Any:
    from api.main import create_app
    from loyalty_agent.services import in_process

    seed_database(engine, customers=200, months=12, seed=17)
    with session_scope(engine) as s:
        keys = {role: create_api_key(s, role=role)[1] for role in ("manager", "marketer", "associate")}
        vips = {c.pos_customer_id for c in s.exec(select(Customer).where(col(Customer.consent_sms)))}
    # This merchant wants every guest tier reviewed, so the queue fills up.
    policy = tmp_path / "policy.yaml"
    policy.write_text("escalation:\n  high_value_tiers: [member, silver, gold, vip]\n")
    settings = make_settings(database_url, tmp_path, index_on_start=False, policy_file=policy)
    app = create_app(settings, background=in_process(workers=1))
    with ServerThread(app) as server:
        yield server, keys, vips


def test_escalated_offer_review_flow(reviewed_server: Any, engine: Engine) -> None:
    server, keys, vips = reviewed_server
    sales = [s for s in sample_sales(engine, count=400, seed=3, now=datetime.now(UTC))
             if s["data"].get("customer_id") in vips][:12]
    assert sales, "the sandbox has high-value guests"
    with httpx.Client(base_url=server.url, timeout=60) as c:
        ids = []
        for sale in sales:
            body = json.dumps(sale).encode()
            r = c.post("/webhooks/pos", content=body, headers={"x-signature": sign_pos("test-secret", body)})
            assert r.status_code == 202, r.text
            ids.append(r.json()["event_id"])
        deadline = time.monotonic() + 240
        outcomes: dict[str, Any] = {}
        while time.monotonic() < deadline and len(outcomes) < len(ids):
            for event_id in ids:
                state = c.get(f"/events/{event_id}", headers=_auth(keys["manager"])).json()
                if state["status"] in ("done", "failed"):
                    outcomes[event_id] = state
            time.sleep(0.3)
        assert len(outcomes) == len(ids), "every event is processed"
        assert all(o["status"] == "done" for o in outcomes.values()), outcomes
        pending = c.get("/offers?status=pending_review", headers=_auth(keys["marketer"])).json()
        if len(pending) < 2:
            pytest.skip(f"only {len(pending)} escalations in this sample")
        first, second = pending[0]["id"], pending[1]["id"]
        detail = c.get(f"/offers/{first}", headers=_auth(keys["manager"])).json()
        assert any(v["verdict"] == "escalate" for v in detail["verdicts"])
        assert [a["node"] for a in detail["audit"]][:4] == ["load_transaction", "update_profile",
                                                             "retrieve_context", "draft_offer"]
        assert "customer_id" not in detail and detail["customer"].startswith("g_")  # pseudonymous only
        assert c.get(f"/offers/{first}", headers=_auth(keys["associate"])).status_code == 403

        url = f"/offers/{first}/review"
        assert c.post(url, json={"action": "accept"}, headers=_auth(keys["marketer"])).status_code == 403
        assert c.post(url, json={"action": "edit", "edits": {"customer_id": 1}},
                      headers=_auth(keys["manager"])).status_code == 422
        assert c.post(url, json={"action": "edit", "edits": {"discount_pct": 150}},
                      headers=_auth(keys["manager"])).status_code == 422
        assert c.post(url, json={"action": "nope"}, headers=_auth(keys["manager"])).status_code == 422
        # Roles: a marketer changes copy only; terms need a manager (403, nothing claimed or changed).
        r = c.post(url, json={"action": "edit", "edits": {"bonus_points": 50}}, headers=_auth(keys["marketer"]))
        assert r.status_code == 403, r.text
        # `edits` belong to `edit`; absurd numbers are refused before anything is claimed.
        r = c.post(url, json={"action": "accept", "edits": {"discount_pct": 5}}, headers=_auth(keys["manager"]))
        assert r.status_code == 422, r.text
        r = c.post(url, json={"action": "edit", "edits": {"bonus_points": 10**19}}, headers=_auth(keys["manager"]))
        assert r.status_code == 422, r.text
        assert c.get(f"/offers/{first}", headers=_auth(keys["manager"])).json()["status"] == "pending_review"
        # A marketer's copy edit is re-checked and goes back to the queue for a manager, marked.
        r = c.post(url, json={"action": "edit", "edits": {"sms_text": detail["sms_text"]}, "note": "copy ok"},
                   headers=_auth(keys["marketer"]))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "pending_review" and r.json()["reviewed_by_marketer"].startswith("reviewer:")
        # A manager's edit that breaks a hard rule is re-checked and blocked: nothing executes.
        r = c.post(url, json={"action": "edit", "edits": {"discount_pct": 100}, "note": "go big"},
                   headers=_auth(keys["manager"]))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "blocked"
        assert c.post(url, json={"action": "accept"}, headers=_auth(keys["manager"])).status_code == 409

        r = c.post(f"/offers/{second}/review", json={"action": "accept", "note": "ok"}, headers=_auth(keys["manager"]))
        assert r.status_code == 200, r.text
        accepted = r.json()
        assert accepted["status"] == "sent" and accepted["decided_by"].startswith("reviewer:")
        assert "human_review" in [a["node"] for a in accepted["audit"]]
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(PromoCode).where(col(PromoCode.offer_id) == first)).one() == 0
        assert s.exec(select(func.count()).select_from(OutboundMessage)
                      .where(col(OutboundMessage.offer_id) == second)).one() == 1
