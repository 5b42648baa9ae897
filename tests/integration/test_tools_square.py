"""SquarePos (official `squareup` SDK) against a faithful local fake of Square's HTTP API on loopback.

The fake implements only the endpoints the adapter uses, with Square's JSON shapes, bearer auth
and Square's idempotency semantics (same key + same body -> the original response; same key +
different body -> 400 IDEMPOTENCY_KEY_REUSED). It can be told to answer 503 before handling a
request, to handle it and then answer 503 (a lost response), or to stall past the client timeout.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tools.errors import IdempotencyConflict, PermanentError, ToolUnavailable
from tools.idempotency import idempotency_key
from tools.pos.base import PosAdapter
from tools.pos.square import PROMO_ATTRIBUTE_KEY, SquarePos

TOKEN = "EAAA-test-token"
Response = tuple[int, dict[str, Any]]


def _error(status: int, category: str, code: str, detail: str, field: str | None = None) -> Response:
    err: dict[str, Any] = {"category": category, "code": code, "detail": detail}
    if field:
        err["field"] = field
    return status, {"errors": [err]}


class FakeSquare:
    """State and routing of the fake. Thread-safe: ThreadingHTTPServer serves requests concurrently."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self.fail_before: dict[str, int] = {}  # route -> how many 503s before handling
        self.fail_after: dict[str, int] = {}  # route -> handle, then answer 503 (response lost)
        self.stall: dict[str, tuple[int, float]] = {}  # route -> (count, seconds) sleep before answering
        self.idempotency: dict[str, tuple[str, Response]] = {}
        self.catalog: dict[str, dict[str, Any]] = {}
        self.customers = {
            "CUST_1": {"id": "CUST_1", "given_name": "Maria", "family_name": "Gonzalez",
                       "email_address": "maria@example.com", "phone_number": "+14155550199",
                       "created_at": "2025-01-02T10:00:00Z"},
        }
        self.custom_attributes: dict[tuple[str, str], dict[str, Any]] = {}
        self.orders = {
            "ORDER_1": {"id": "ORDER_1", "location_id": "LOC_1", "customer_id": "CUST_1", "state": "COMPLETED",
                        "created_at": "2026-01-15T14:30:00Z", "total_money": {"amount": 2400, "currency": "USD"},
                        "line_items": [{"uid": "li1", "name": "Grilled Salmon", "quantity": "2",
                                        "catalog_object_id": "VAR_SALMON", "metadata": {"sku": "SALMON-ENTREE"},
                                        "base_price_money": {"amount": 1200, "currency": "USD"}}]},
        }
        self.accounts: dict[str, dict[str, Any]] = {
            "LA_1": {"id": "LA_1", "program_id": "PROG_1", "customer_id": "CUST_1", "balance": 100,
                     "lifetime_points": 100, "mapping": {"phone_number": "+14155550199"}},
        }
        self.loyalty_events: list[dict[str, Any]] = []
        self._ids = 0

    def new_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids:06d}"

    def count(self, route: str) -> int:
        return sum(1 for _m, r in self.requests if r == route)

    # -- dispatch ---------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        route = _route(method, path)
        with self.lock:
            self.requests.append((method, route))
            stall = self.stall.get(route)
            if stall and stall[0] > 0:
                self.stall[route] = (stall[0] - 1, stall[1])
        if stall and stall[0] > 0:
            time.sleep(stall[1])
        if headers.get("authorization") != f"Bearer {TOKEN}":
            return _error(401, "AUTHENTICATION_ERROR", "UNAUTHORIZED", "This request could not be authorized.")
        with self.lock:
            if self.fail_before.get(route, 0) > 0:
                self.fail_before[route] -= 1
                return _error(503, "API_ERROR", "SERVICE_UNAVAILABLE", "Service unavailable")
            payload = json.loads(body) if body else {}
            response = self._idempotent(method, path, payload)
            if self.fail_after.get(route, 0) > 0:
                self.fail_after[route] -= 1
                return _error(503, "API_ERROR", "SERVICE_UNAVAILABLE", "Service unavailable")
            return response

    def _idempotent(self, method: str, path: str, payload: dict[str, Any]) -> Response:
        key = payload.get("idempotency_key")
        if method != "POST" or not key:
            return self._dispatch(method, path, payload)
        fingerprint = json.dumps({"path": path, **payload}, sort_keys=True)
        seen = self.idempotency.get(key)
        if seen is not None:
            if seen[0] != fingerprint:
                return _error(400, "INVALID_REQUEST_ERROR", "IDEMPOTENCY_KEY_REUSED",
                              "The idempotency key can only be retried with the same request data.",
                              "idempotency_key")
            return seen[1]
        response = self._dispatch(method, path, payload)
        if response[0] < 400:
            self.idempotency[key] = (fingerprint, response)
        return response

    def _dispatch(self, method: str, path: str, payload: dict[str, Any]) -> Response:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        if m := re.fullmatch(r"/v2/customers/([^/]+)", path):
            customer = self.customers.get(m[1])
            return (200, {"customer": customer}) if customer else _error(
                404, "INVALID_REQUEST_ERROR", "NOT_FOUND", f"Customer with ID `{m[1]}` not found.")
        if m := re.fullmatch(r"/v2/orders/([^/]+)", path):
            order = self.orders.get(m[1])
            return (200, {"order": order}) if order else _error(
                404, "INVALID_REQUEST_ERROR", "NOT_FOUND", f"Order `{m[1]}` not found.")
        if path == "/v2/catalog/object":
            obj = payload.get("object") or {}
            data = obj.get("discount_data") or {}
            if obj.get("type") != "DISCOUNT" or not str(obj.get("id", "")).startswith("#"):
                return _error(400, "INVALID_REQUEST_ERROR", "INVALID_VALUE", "Invalid object", "object")
            if data.get("discount_type") == "FIXED_PERCENTAGE" and not 0 < float(data.get("percentage", 0)) <= 100:
                return _error(400, "INVALID_REQUEST_ERROR", "INVALID_VALUE", "Invalid percentage",
                              "object.discount_data.percentage")
            object_id = self.new_id("DISC")
            created = {**obj, "id": object_id, "version": 1, "is_deleted": False, "updated_at": now}
            self.catalog[object_id] = created
            return 200, {"catalog_object": created,
                         "id_mappings": [{"client_object_id": obj["id"], "object_id": object_id}]}
        if m := re.fullmatch(r"/v2/customers/([^/]+)/custom-attributes/([^/]+)", path):
            if m[1] not in self.customers:
                return _error(404, "INVALID_REQUEST_ERROR", "NOT_FOUND", "Customer not found.")
            attribute = {"key": m[2], "value": payload["custom_attribute"]["value"], "version": 1,
                         "visibility": "VISIBILITY_READ_WRITE_VALUES", "updated_at": now, "created_at": now}
            self.custom_attributes[(m[1], m[2])] = attribute
            return 200, {"custom_attribute": attribute}
        if path == "/v2/loyalty/accounts/search":
            wanted = set((payload.get("query") or {}).get("customer_ids") or [])
            found = [a for a in self.accounts.values() if not wanted or a["customer_id"] in wanted]
            return 200, {"loyalty_accounts": found[: payload.get("limit") or 30]}
        if m := re.fullmatch(r"/v2/loyalty/accounts/([^/]+)", path):
            account = self.accounts.get(m[1])
            return (200, {"loyalty_account": account}) if account else _error(
                404, "INVALID_REQUEST_ERROR", "NOT_FOUND", "Loyalty account not found.")
        if m := re.fullmatch(r"/v2/loyalty/accounts/([^/]+)/(accumulate|adjust)", path):
            account = self.accounts[m[1]]
            if m[2] == "accumulate":
                if not payload.get("location_id"):
                    return _error(400, "INVALID_REQUEST_ERROR", "MISSING_REQUIRED_PARAMETER", "location_id")
                points = int(payload["accumulate_points"]["points"])
                event_type, body_key = "ACCUMULATE_POINTS", "accumulate_points"
            else:
                points = int(payload["adjust_points"]["points"])
                if account["balance"] + points < 0 and not payload.get("allow_negative_balance"):
                    return _error(400, "INVALID_REQUEST_ERROR", "INSUFFICIENT_POINTS", "Not enough points")
                event_type, body_key = "ADJUST_POINTS", "adjust_points"
            account["balance"] += points
            event = {"id": self.new_id("LEV"), "type": event_type, "created_at": now, "loyalty_account_id": m[1],
                     body_key: {"points": points}, "source": "LOYALTY_API"}
            self.loyalty_events.append(event)
            return 200, ({"events": [event]} if m[2] == "accumulate" else {"event": event})
        return _error(404, "INVALID_REQUEST_ERROR", "NOT_FOUND", f"No route {method} {path}")


def _route(method: str, path: str) -> str:
    """Collapse ids so failure injection can target an endpoint: /v2/customers/X -> /v2/customers/{id}."""
    parts = path.split("/")
    collapsed = [p if p in {"v2", "customers", "orders", "catalog", "object", "custom-attributes", "loyalty",
                            "accounts", "search", "accumulate", "adjust", ""} else "{id}" for p in parts]
    return f"{method} {'/'.join(collapsed)}"


def _serve(app: FakeSquare) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: avoid 40 ms delayed ACKs

        def _respond(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = app.handle(self.command, self.path.split("?")[0], headers, body)
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                pass

        do_GET = do_POST = do_PUT = do_DELETE = _respond

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def fake() -> Iterator[tuple[FakeSquare, str]]:
    app = FakeSquare()
    server, url = _serve(app)
    yield app, url
    server.shutdown()
    server.server_close()


def _pos(url: str, **overrides: Any) -> SquarePos:
    options: dict[str, Any] = {"access_token": TOKEN, "base_url": url, "location_id": "LOC_1", "timeout_s": 2.0,
                               "retry_attempts": 4, "retry_base_delay_s": 0.01, "retry_max_delay_s": 0.05}
    options.update(overrides)
    return SquarePos(**options)


def _create(pos: SquarePos, key: str, *, pct: float | None = 15.0, cents: int | None = None) -> Callable[[], Any]:
    return lambda: pos.create_promo_code(idempotency_key=key, merchant_id="m1", offer_id="offer_1", customer_id=7,
                                         sku="SALMON-ENTREE", category=None, discount_pct=pct,
                                         discount_cents=cents, expires_at=datetime(2026, 3, 1, tzinfo=UTC))


CATALOG = "POST /v2/catalog/object"


def test_square_pos_satisfies_the_protocol(fake: tuple[FakeSquare, str]) -> None:
    assert isinstance(_pos(fake[1]), PosAdapter)


def test_reads_customer_and_order_through_the_sdk(fake: tuple[FakeSquare, str]) -> None:
    pos = _pos(fake[1])
    customer = pos.get_customer("CUST_1")
    assert customer is not None and customer.given_name == "Maria" and customer.email == "maria@example.com"
    order = pos.get_order("ORDER_1")
    assert order is not None and order.total_cents == 2400 and order.pos_customer_id == "CUST_1"
    assert order.lines[0].sku == "SALMON-ENTREE" and order.lines[0].quantity == 2
    assert order.occurred_at == datetime(2026, 1, 15, 14, 30, tzinfo=UTC)
    assert pos.get_customer("NOPE") is None and pos.get_order("NOPE") is None


def test_create_promo_code_retries_503_and_creates_exactly_one_discount(fake: tuple[FakeSquare, str]) -> None:
    app, url = fake
    app.fail_before[CATALOG] = 2
    key = idempotency_key("offer_1", "pos.create_promo_code")
    result = _create(_pos(url), key)()
    assert app.count(CATALOG) == 3
    assert len(app.catalog) == 1
    created = next(iter(app.catalog.values()))
    assert created["discount_data"] == {"name": result.code, "pin_required": False,
                                        "discount_type": "FIXED_PERCENTAGE", "percentage": "15.00"}
    assert result.pos_reference == created["id"]


def test_lost_response_is_retried_with_the_same_key_without_duplicating(fake: tuple[FakeSquare, str]) -> None:
    app, url = fake
    app.fail_after[CATALOG] = 1  # Square created the discount but we never saw the answer
    key = idempotency_key("offer_2", "pos.create_promo_code")
    pos = _pos(url)
    first = _create(pos, key, cents=500, pct=None)()
    assert app.count(CATALOG) == 2 and len(app.catalog) == 1
    # a worker re-running the whole decision later gets the same code and the same Square object
    again = _create(pos, key, cents=500, pct=None)()
    assert (again.code, again.pos_reference) == (first.code, first.pos_reference)
    assert len(app.catalog) == 1


def test_validation_errors_are_not_retried(fake: tuple[FakeSquare, str]) -> None:
    app, url = fake
    key = idempotency_key("offer_3", "pos.create_promo_code")
    _create(_pos(url), key)()
    with pytest.raises(PermanentError) as info:  # same key, different terms: Square refuses with 400
        _create(_pos(url), key, pct=20.0)()
    assert info.value.status_code == 400 and info.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert app.count(CATALOG) == 2  # one create + one refused attempt, no retries
    with pytest.raises(PermanentError) as auth:
        _pos(url, access_token="wrong").get_customer("CUST_1")
    assert auth.value.status_code == 401
    assert app.count("GET /v2/customers/{id}") == 1


def test_timeouts_are_retried(fake: tuple[FakeSquare, str]) -> None:
    app, url = fake
    app.stall["GET /v2/customers/{id}"] = (1, 1.5)
    customer = _pos(url, timeout_s=0.5).get_customer("CUST_1")
    assert customer is not None and app.count("GET /v2/customers/{id}") == 2


def test_unreachable_square_raises_tool_unavailable(fake: tuple[FakeSquare, str]) -> None:
    app, url = fake
    app.fail_before[CATALOG] = 99
    with pytest.raises(ToolUnavailable) as info:
        _create(_pos(url, retry_attempts=3), idempotency_key("offer_4", "pos.create_promo_code"))()
    assert info.value.attempts == 3 and app.count(CATALOG) == 3 and not app.catalog
    with pytest.raises(ToolUnavailable):  # nothing listening at all
        _pos("http://127.0.0.1:9", retry_attempts=2).get_customer("CUST_1")


def test_attach_promo_sets_the_customer_attribute_idempotently(fake: tuple[FakeSquare, str]) -> None:
    app, url = fake
    pos = _pos(url)
    key = idempotency_key("offer_5", "pos.attach_promo_to_customer")
    app.fail_after["POST /v2/customers/{id}/custom-attributes/{id}"] = 1
    result = pos.attach_promo_to_customer(idempotency_key=key, code="HV-AAAA-BB", pos_customer_id="CUST_1")
    assert result.pos_reference == f"CUST_1/{PROMO_ATTRIBUTE_KEY}"
    assert app.custom_attributes[("CUST_1", PROMO_ATTRIBUTE_KEY)]["value"] == "HV-AAAA-BB"
    with pytest.raises(PermanentError):
        pos.attach_promo_to_customer(idempotency_key=idempotency_key("x", "y"), code="HV-AAAA-BB",
                                     pos_customer_id="GHOST")


def test_points_accrue_once_despite_lost_responses_and_redeem(fake: tuple[FakeSquare, str]) -> None:
    app, url = fake
    pos = _pos(url)
    app.fail_after["POST /v2/loyalty/accounts/{id}/accumulate"] = 2
    key = idempotency_key("offer_6", "pos.accrue_points")
    accrued = pos.accrue_points(idempotency_key=key, pos_customer_id="CUST_1", points=40, reason="bonus")
    assert accrued.balance == 140 and app.count("POST /v2/loyalty/accounts/{id}/accumulate") == 3
    assert pos.accrue_points(idempotency_key=key, pos_customer_id="CUST_1", points=40, reason="bonus").balance == 140
    assert len(app.loyalty_events) == 1
    redeemed = pos.redeem_points(idempotency_key=idempotency_key("offer_6", "pos.redeem_points"),
                                 pos_customer_id="CUST_1", points=90, reason="free dessert")
    assert redeemed.balance == 50 and redeemed.pos_reference == app.loyalty_events[-1]["id"]
    with pytest.raises(PermanentError) as info:
        pos.redeem_points(idempotency_key=idempotency_key("offer_7", "pos.redeem_points"),
                          pos_customer_id="CUST_1", points=500, reason="too much")
    assert info.value.code == "INSUFFICIENT_POINTS"
    with pytest.raises(PermanentError):
        _pos(url, location_id=None).accrue_points(idempotency_key="k", pos_customer_id="CUST_1", points=1,
                                                  reason="x")
    assert not isinstance(info.value, IdempotencyConflict)
