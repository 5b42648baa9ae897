"""The webhook contract against a real server and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlmodel import Session

from api.signatures import sign_pos, sign_square
from db.tables import Customer, InboxEvent, PosTransaction, TransactionLine
from tests.integration.conftest import Live, ServerThread, add_minimal_merchant, make_settings


def sale(event_id: str = "evt_1", txn: str = "txn_1", customer: str | None = "cust_456", **data: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event": "sale.completed", "event_id": event_id, "created_at": datetime.now(UTC).isoformat(),
        "data": {"id": txn, "location_id": "loc_1", "customer_id": customer,
                 "line_items": [{"sku": "SALMON-ENTREE", "name": "Grilled Salmon", "quantity": 1, "price": 24.00}],
                 "total_money": {"amount": 2400, "currency": "USD"}},
    }
    body["data"].update(data)
    return body


def post(client: httpx.Client, payload: Any, *, secret: str = "test-secret", raw: bytes | None = None,
         timestamp: int | None = None, header: str | None = "sign") -> httpx.Response:
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {"content-type": "application/json"}
    if header == "sign":
        headers["x-signature"] = sign_pos(secret, body, timestamp=timestamp)
    elif header is not None:
        headers["x-signature"] = header
    return client.post("/webhooks/pos", content=body, headers=headers)


def wait_done(live: Live, event_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with live.client() as c:
        while True:
            r = c.get(f"/events/{event_id}", headers={"authorization": f"Bearer {live.manager_key}"})
            assert r.status_code == 200, r.text
            if r.json()["status"] in ("done", "failed") or time.monotonic() > deadline:
                return r.json()  # type: ignore[no-any-return]
            time.sleep(0.05)


def count(live: Live, model: Any) -> int:
    with Session(live.engine) as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_accept_dedupe_and_process(live: Live) -> None:
    with live.client() as c:
        r = post(c, sale())
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "queued"
        event_id = r.json()["event_id"]
        again = post(c, sale())
        assert again.status_code == 200
        assert again.json() == {"event_id": event_id, "status": "duplicate"}
    state = wait_done(live, event_id)
    assert state["status"] == "done", state
    assert state["outcome"] == "no_offer"
    assert count(live, PosTransaction) == 1
    assert count(live, TransactionLine) == 1
    with Session(live.engine) as s:
        cust = s.execute(select(Customer)).scalar_one()
        # An unknown customer is created minimal: no consents, allergies unknown (not "none").
        assert cust.allergies is None and not cust.consent_sms and not cust.consent_email
        assert cust.pseudonym.startswith("g_") and "456" not in cust.pseudonym


def test_event_lookup_needs_manager_key(live: Live) -> None:
    with live.client() as c:
        event_id = post(c, sale()).json()["event_id"]
        assert c.get(f"/events/{event_id}").status_code == 401
        assert c.get(f"/events/{event_id}", headers={"authorization": "Bearer nope"}).status_code == 401
        r = c.get(f"/events/{event_id}", headers={"authorization": f"Bearer {live.associate_key}"})
        assert r.status_code == 403
        r = c.get("/events/ev_missing", headers={"authorization": f"Bearer {live.manager_key}"})
        assert r.status_code == 404


def test_bad_signatures_are_401_and_store_nothing(live: Live) -> None:
    with live.client() as c:
        assert post(c, sale(), header=None).status_code == 401
        assert post(c, sale(), secret="wrong").status_code == 401
        assert post(c, sale(), timestamp=int(time.time()) - 301).status_code == 401
        assert post(c, sale(), header="t=1,v1=zz").status_code == 401
        # Signature is checked before parsing: garbage with a bad signature is 401, not 400.
        assert post(c, None, raw=b"{not json", header=None).status_code == 401
    assert count(live, InboxEvent) == 0


def test_odd_signature_headers_are_401_never_500(live: Live) -> None:
    """Header bytes arrive as latin-1 text: superscript/Arabic digits and non-ASCII MACs must not crash."""
    body = json.dumps(sale()).encode()
    mac = sign_pos("test-secret", body).split(",")[1]
    odd = [f"t=\u00b2,{mac}".encode("latin-1"), f"t=\u00b2,{mac}".encode(),
           f"t={int(time.time())},v1=\u00e9".encode("latin-1"), ("t=" + "9" * 5000 + f",{mac}").encode()]
    with live.client() as c:
        for header in odd:
            r = c.post("/webhooks/pos", content=body, headers={b"x-signature": header})
            assert r.status_code == 401, (header[:40], r.text)
    assert count(live, InboxEvent) == 0


def nested_json(depth: int) -> bytes:
    return ('{"a":' * depth + "1" + "}" * depth).encode()


def test_deeply_nested_signed_json_is_400(live: Live) -> None:
    with live.client() as c:
        for raw in (nested_json(33), nested_json(1_000), b"[" * 100_000 + b"]" * 100_000):
            r = post(c, None, raw=raw)
            assert r.status_code == 400 and "nested deeper than" in r.json()["detail"], r.text
        # Depth inside an otherwise valid event is refused the same way.
        deep = json.loads(nested_json(40))
        r = post(c, sale(extra=deep))
        assert r.status_code == 400, r.text
    assert count(live, InboxEvent) == 0


def test_malformed_bodies_are_4xx_with_reason(live: Live) -> None:
    with live.client() as c:
        r = post(c, None, raw=b"{not json")
        assert r.status_code == 400 and "JSON" in r.json()["detail"]
        r = post(c, {"event": "sale.completed"})
        assert r.status_code == 422 and isinstance(r.json()["detail"], list)
        r = post(c, {"event": "refund.created", "event_id": "e", "created_at": "2026-01-01T00:00:00Z", "data": {}})
        assert r.status_code == 422
        r = post(c, sale(line_items=[]))
        assert r.status_code == 422
        r = post(c, sale(line_items=[{"sku": "X", "name": "x", "quantity": 0, "price": 1}]))
        assert r.status_code == 422
        naive = sale()
        naive["created_at"] = "2026-01-15T14:30:00"  # no offset: ambiguous, refused
        assert post(c, naive).status_code == 422
        r = post(c, sale(location_id="loc_nowhere"))
        assert r.status_code == 422 and "unknown location_id" in r.json()["detail"]
        r = post(c, None, raw=json.dumps([1, 2]).encode())
        assert r.status_code == 422
    assert count(live, InboxEvent) == 0


def test_oversize_body_is_413(live: Live) -> None:
    big = sale()
    big["data"]["padding"] = "x" * (live.settings.webhook_max_body_bytes + 10)
    with live.client() as c:
        assert post(c, big).status_code == 413
        # Same without a Content-Length header (chunked upload).
        body = json.dumps(big).encode()
        headers = {"x-signature": sign_pos("test-secret", body), "content-type": "application/json"}

        def chunks() -> Any:
            for i in range(0, len(body), 65536):
                yield body[i:i + 65536]

        assert c.post("/webhooks/pos", content=chunks(), headers=headers).status_code == 413
    assert count(live, InboxEvent) == 0


def test_concurrent_duplicate_posts_store_one_row(live: Live) -> None:
    body = json.dumps(sale(event_id="evt_race", txn="txn_race")).encode()
    with live.client() as c:

        def send(_: int) -> httpx.Response:
            return post(c, None, raw=body)

        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(send, range(40)))
    codes = sorted(r.status_code for r in responses)
    assert codes.count(202) == 1 and codes.count(200) == 39, codes
    assert len({r.json()["event_id"] for r in responses}) == 1
    assert count(live, InboxEvent) == 1


def test_customer_updated_creates_and_updates_profile(live: Live) -> None:
    payload: dict[str, Any] = {"event": "customer.updated", "event_id": "evt_c1", "created_at": "2026-01-15T14:30:00Z",
               "data": {"customer_id": "cust_9", "given_name": "Maria", "email": "maria@example.com",
                        "allergies": ["Shellfish"], "age_verified": True, "unknown_field": 1,
                        "consent": {"sms": True, "email": False, "alcohol_marketing": False},
                        "timezone": "America/Los_Angeles", "notes": "call 415-555-0199"}}
    with live.client() as c:
        r = post(c, payload)
        assert r.status_code == 202, r.text
        state = wait_done(live, r.json()["event_id"])
        assert state["status"] == "done" and state["outcome"] == "profile_updated"
        bad_tz = {**payload, "event_id": "evt_c2", "data": {**payload["data"], "timezone": "Mars/Olympus"}}
        state = wait_done(live, post(c, bad_tz).json()["event_id"])
        assert state["status"] == "failed" and "unknown timezone" in state["last_error"]
    with Session(live.engine) as s:
        cust = s.execute(select(Customer)).scalar_one()
        assert cust.allergies == ["shellfish"] and cust.consent_sms and not cust.consent_email
        assert cust.timezone == "America/Los_Angeles"


def test_square_webhook(database_url: str, engine: Any, tmp_path: Any) -> None:
    from api.main import create_app

    url = "https://loyalty.example.com/webhooks/square"
    settings = make_settings(database_url, tmp_path, square_webhook_signature_key="sq-key", square_webhook_url=url)
    add_minimal_merchant(engine)
    event = {"merchant_id": "ML1", "type": "customer.updated", "event_id": "sq-evt-1",
             "created_at": "2026-01-15T14:30:00Z",
             "data": {"type": "customer", "id": "C1", "object": {"customer": {
                 "id": "C1", "given_name": "Ana", "email_address": "ana@example.com", "birthday": "0000-06-15",
                 "preferences": {"email_unsubscribed": False}}}}}
    body = json.dumps(event).encode()
    with ServerThread(create_app(settings)) as server, httpx.Client(base_url=server.url) as c:
        headers = {"x-square-hmacsha256-signature": sign_square("sq-key", url, body)}
        r = c.post("/webhooks/square", content=body, headers=headers)
        assert r.status_code == 202, r.text
        assert c.post("/webhooks/square", content=body, headers=headers).json()["status"] == "duplicate"
        bad = {"x-square-hmacsha256-signature": sign_square("sq-key", url + "/other", body)}
        assert c.post("/webhooks/square", content=body, headers=bad).status_code == 401
        for garbage in (b"not base64!", "\u00e9\u00e9\u00e9\u00e9".encode("latin-1"), b"abc"):
            r = c.post("/webhooks/square", content=body, headers={b"x-square-hmacsha256-signature": garbage})
            assert r.status_code == 401, r.text
        deep = ('{"a":' * 1_000 + "1" + "}" * 1_000).encode()
        signed = {"x-square-hmacsha256-signature": sign_square("sq-key", url, deep)}
        r = c.post("/webhooks/square", content=deep, headers=signed)
        assert r.status_code == 400 and "nested deeper than" in r.json()["detail"], r.text
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(InboxEvent)).scalar_one() == 1
