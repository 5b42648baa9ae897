"""A faithful local fake of the parts of Square's HTTP API we call, on loopback, for the official SDK.

Square's JSON shapes (https://developer.squareup.com/reference/square), bearer auth, Square's error
envelope (`{"errors": [{"category", "code", "detail"}]}`) and idempotency semantics (same key + same
body -> the original response; same key + different body -> 400 IDEMPOTENCY_KEY_REUSED).
Endpoints: RetrieveOrder, RetrieveCustomer, ListCatalog (cursor paging), ListLocations, catalog
upsert, customer custom attributes, loyalty accounts. Faults on demand, per route: answer 503 before
handling (`fail_before`), handle and then answer 503 (a lost response, `fail_after`), or stall past
the client's timeout (`stall`).

`square_order` builds an order the way Square computes one (gross sales, discounts, tax, tip, tenders);
`square_event` builds a webhook notification body.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "EAAA-test-token"
Response = tuple[int, dict[str, Any]]


def error(status: int, category: str, code: str, detail: str, field: str | None = None) -> Response:
    err: dict[str, Any] = {"category": category, "code": code, "detail": detail}
    if field:
        err["field"] = field
    return status, {"errors": [err]}


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def money(amount: int, currency: str = "USD") -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


class FakeSquare:
    """State and routing of the fake. Thread-safe: ThreadingHTTPServer serves requests concurrently."""

    page_size = 100  # ListCatalog's page size

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self.fail_before: dict[str, int] = {}  # route -> how many 503s before handling
        self.fail_after: dict[str, int] = {}  # route -> handle, then answer 503 (response lost)
        self.stall: dict[str, tuple[int, float]] = {}  # route -> (count, seconds) sleep before answering
        self.idempotency: dict[str, tuple[str, Response]] = {}
        self.catalog: dict[str, dict[str, Any]] = {}  # id -> catalog object (items, categories, discounts)
        self.locations: list[dict[str, Any]] = []
        self.customers: dict[str, dict[str, Any]] = {
            "CUST_1": {"id": "CUST_1", "given_name": "Maria", "family_name": "Gonzalez",
                       "email_address": "maria@example.com", "phone_number": "+14155550199",
                       "created_at": "2025-01-02T10:00:00Z"},
        }
        self.custom_attributes: dict[tuple[str, str], dict[str, Any]] = {}
        self.orders = {
            "ORDER_1": square_order("ORDER_1", location_id="LOC_1", customer_id="CUST_1",
                                    lines=[("VAR_SALMON", "Grilled Salmon", 2, 1200)],
                                    closed_at=datetime(2026, 1, 15, 14, 30, tzinfo=UTC)),
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
        with self.lock:
            return sum(1 for _m, r in self.requests if r == route)

    def discounts(self) -> list[dict[str, Any]]:
        return [o for o in self.catalog.values() if o["type"] == "DISCOUNT"]

    # -- dispatch ---------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        parts = urlsplit(target)
        path, query = parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}
        route = _route(method, path)
        with self.lock:
            self.requests.append((method, route))
            stall = self.stall.get(route)
            if stall and stall[0] > 0:
                self.stall[route] = (stall[0] - 1, stall[1])
        if stall and stall[0] > 0:
            time.sleep(stall[1])
        if headers.get("authorization") != f"Bearer {TOKEN}":
            return error(401, "AUTHENTICATION_ERROR", "UNAUTHORIZED", "This request could not be authorized.")
        with self.lock:
            if self.fail_before.get(route, 0) > 0:
                self.fail_before[route] -= 1
                return error(503, "API_ERROR", "SERVICE_UNAVAILABLE", "Service unavailable")
            payload = json.loads(body) if body else {}
            response = self._idempotent(method, path, query, payload)
            if self.fail_after.get(route, 0) > 0:
                self.fail_after[route] -= 1
                return error(503, "API_ERROR", "SERVICE_UNAVAILABLE", "Service unavailable")
            return response

    def _idempotent(self, method: str, path: str, query: dict[str, str], payload: dict[str, Any]) -> Response:
        key = payload.get("idempotency_key")
        if method != "POST" or not key:
            return self._dispatch(method, path, query, payload)
        fingerprint = json.dumps({"path": path, **payload}, sort_keys=True)
        seen = self.idempotency.get(key)
        if seen is not None:
            if seen[0] != fingerprint:
                return error(400, "INVALID_REQUEST_ERROR", "IDEMPOTENCY_KEY_REUSED",
                             "The idempotency key can only be retried with the same request data.",
                             "idempotency_key")
            return seen[1]
        response = self._dispatch(method, path, query, payload)
        if response[0] < 400:
            self.idempotency[key] = (fingerprint, response)
        return response

    def _dispatch(self, method: str, path: str, query: dict[str, str], payload: dict[str, Any]) -> Response:
        now = rfc3339(datetime.now(UTC))
        if path == "/v2/catalog/list":
            return self._list_catalog(query)
        if path == "/v2/locations":
            return 200, {"locations": self.locations}
        if m := re.fullmatch(r"/v2/customers/([^/]+)", path):
            customer = self.customers.get(m[1])
            return (200, {"customer": customer}) if customer else error(
                404, "INVALID_REQUEST_ERROR", "NOT_FOUND", f"Customer with ID `{m[1]}` not found.")
        if m := re.fullmatch(r"/v2/orders/([^/]+)", path):
            order = self.orders.get(m[1])
            return (200, {"order": order}) if order else error(
                404, "INVALID_REQUEST_ERROR", "NOT_FOUND", f"Order `{m[1]}` not found.")
        if path == "/v2/catalog/object":
            obj = payload.get("object") or {}
            data = obj.get("discount_data") or {}
            if obj.get("type") != "DISCOUNT" or not str(obj.get("id", "")).startswith("#"):
                return error(400, "INVALID_REQUEST_ERROR", "INVALID_VALUE", "Invalid object", "object")
            if data.get("discount_type") == "FIXED_PERCENTAGE" and not 0 < float(data.get("percentage", 0)) <= 100:
                return error(400, "INVALID_REQUEST_ERROR", "INVALID_VALUE", "Invalid percentage",
                             "object.discount_data.percentage")
            object_id = self.new_id("DISC")
            created = {**obj, "id": object_id, "version": 1, "is_deleted": False, "updated_at": now}
            self.catalog[object_id] = created
            return 200, {"catalog_object": created,
                         "id_mappings": [{"client_object_id": obj["id"], "object_id": object_id}]}
        if m := re.fullmatch(r"/v2/customers/([^/]+)/custom-attributes/([^/]+)", path):
            if m[1] not in self.customers:
                return error(404, "INVALID_REQUEST_ERROR", "NOT_FOUND", "Customer not found.")
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
            return (200, {"loyalty_account": account}) if account else error(
                404, "INVALID_REQUEST_ERROR", "NOT_FOUND", "Loyalty account not found.")
        if m := re.fullmatch(r"/v2/loyalty/accounts/([^/]+)/(accumulate|adjust)", path):
            return self._loyalty(m[1], m[2], payload, now)
        return error(404, "INVALID_REQUEST_ERROR", "NOT_FOUND", f"No route {method} {path}")

    def _list_catalog(self, query: dict[str, str]) -> Response:
        """ListCatalog: objects of the requested types (items carry their variations), not deleted, paged."""
        types = {t.strip().upper() for t in query.get("types", "").split(",") if t.strip()}
        objects = [o for o in self.catalog.values()
                   if not o.get("is_deleted") and (not types or o["type"] in types)]
        if "ITEM_VARIATION" in types:  # variations are also listed as objects of their own
            objects += [v for o in self.catalog.values() if o["type"] == "ITEM" and not o.get("is_deleted")
                        for v in o["item_data"].get("variations", [])]
        start = int(query["cursor"]) if query.get("cursor", "").isdigit() else 0
        if query.get("cursor") and not query["cursor"].isdigit():
            return error(400, "INVALID_REQUEST_ERROR", "INVALID_CURSOR", "Invalid cursor", "cursor")
        page = objects[start:start + self.page_size]
        body: dict[str, Any] = {"objects": page}
        if start + self.page_size < len(objects):
            body["cursor"] = str(start + self.page_size)
        return 200, body

    def _loyalty(self, account_id: str, action: str, payload: dict[str, Any], now: str) -> Response:
        account = self.accounts[account_id]
        if action == "accumulate":
            if not payload.get("location_id"):
                return error(400, "INVALID_REQUEST_ERROR", "MISSING_REQUIRED_PARAMETER", "location_id")
            points = int(payload["accumulate_points"]["points"])
            event_type, body_key = "ACCUMULATE_POINTS", "accumulate_points"
        else:
            points = int(payload["adjust_points"]["points"])
            if account["balance"] + points < 0 and not payload.get("allow_negative_balance"):
                return error(400, "INVALID_REQUEST_ERROR", "INSUFFICIENT_POINTS", "Not enough points")
            event_type, body_key = "ADJUST_POINTS", "adjust_points"
        account["balance"] += points
        event = {"id": self.new_id("LEV"), "type": event_type, "created_at": now, "loyalty_account_id": account_id,
                 body_key: {"points": points}, "source": "LOYALTY_API"}
        self.loyalty_events.append(event)
        return 200, ({"events": [event]} if action == "accumulate" else {"event": event})

    # -- catalog content ----------------------------------------------------------------------

    def add_category(self, category_id: str, name: str) -> None:
        self.catalog[category_id] = {"type": "CATEGORY", "id": category_id, "version": 1, "is_deleted": False,
                                     "present_at_all_locations": True, "category_data": {"name": name}}

    def add_item(self, item_id: str, name: str, *, category_id: str | None,
                 variations: Sequence[tuple[str, str, int | None]], alcoholic: bool | None = None,
                 ingredients: Sequence[str] = (), description: str | None = None) -> None:
        """An ITEM with its ITEM_VARIATIONs (id, name, price in cents or None for variable pricing)."""
        item_data: dict[str, Any] = {
            "name": name, "product_type": "FOOD_AND_BEV", "is_taxable": True,
            "variations": [_variation(vid, item_id, vname, price, ordinal)
                           for ordinal, (vid, vname, price) in enumerate(variations)],
        }
        if category_id:
            item_data["categories"] = [{"id": category_id, "ordinal": 0}]
            item_data["reporting_category"] = {"id": category_id, "ordinal": 0}
        if alcoholic is not None:
            item_data["is_alcoholic"] = alcoholic
        if ingredients:
            item_data["food_and_beverage_details"] = {
                "ingredients": [{"type": "STANDARD", "standard_name": i} for i in ingredients]}
        if description:
            item_data["description"] = description
        self.catalog[item_id] = {"type": "ITEM", "id": item_id, "version": 1, "is_deleted": False,
                                 "updated_at": "2026-01-01T00:00:00.000Z", "present_at_all_locations": True,
                                 "item_data": item_data}


def _variation(variation_id: str, item_id: str, name: str, price: int | None, ordinal: int) -> dict[str, Any]:
    data: dict[str, Any] = {"item_id": item_id, "name": name, "ordinal": ordinal, "sellable": True,
                            "stockable": True}
    if price is None:
        data["pricing_type"] = "VARIABLE_PRICING"
    else:
        data |= {"pricing_type": "FIXED_PRICING", "price_money": money(price)}
    return {"type": "ITEM_VARIATION", "id": variation_id, "version": 1, "is_deleted": False,
            "present_at_all_locations": True, "item_variation_data": data}


def square_order(order_id: str, *, location_id: str, customer_id: str | None,
                 lines: Sequence[tuple[str | None, str, int, int]], closed_at: datetime,
                 discounts: Sequence[tuple[str, int]] = (), tax_pct: float = 8.875, tip: int = 0,
                 state: str = "COMPLETED", customer_on_tender_only: bool = False) -> dict[str, Any]:
    """An order as RetrieveOrder returns it. `lines`: (variation id or None for a custom amount, name,
    quantity, unit price in cents); `discounts`: (name, amount in cents) applied at order scope."""
    at = rfc3339(closed_at)
    line_items = []
    for n, (variation, name, qty, unit) in enumerate(lines):
        gross = qty * unit
        item: dict[str, Any] = {
            "uid": f"li{n}", "name": name, "quantity": str(qty), "item_type": "ITEM" if variation else "CUSTOM_AMOUNT",
            "base_price_money": money(unit), "variation_total_price_money": money(gross),
            "gross_sales_money": money(gross),
        }
        if variation:
            item |= {"catalog_object_id": variation, "catalog_version": 1, "variation_name": "Regular"}
        line_items.append(item)
    subtotal = sum(i["gross_sales_money"]["amount"] for i in line_items)
    order_discounts = [{"uid": f"d{n}", "name": name, "type": "FIXED_AMOUNT", "amount_money": money(amount),
                        "applied_money": money(amount), "scope": "ORDER"} for n, (name, amount) in enumerate(discounts)]
    discount_total = sum(amount for _name, amount in discounts)
    for item in line_items:  # apportion order discounts over lines by gross sales, as Square does
        share = round(discount_total * item["gross_sales_money"]["amount"] / subtotal) if subtotal else 0
        line_tax = round((item["gross_sales_money"]["amount"] - share) * tax_pct / 100)
        item |= {"total_discount_money": money(share), "total_tax_money": money(line_tax),
                 "total_money": money(item["gross_sales_money"]["amount"] - share + line_tax)}
    tax = sum(i["total_tax_money"]["amount"] for i in line_items)
    total = subtotal - discount_total + tax + tip
    order: dict[str, Any] = {
        "id": order_id, "location_id": location_id, "source": {"name": "Square Point of Sale"},
        "line_items": line_items, "discounts": order_discounts,
        "created_at": rfc3339(closed_at.replace(microsecond=0)), "updated_at": at, "closed_at": at,
        "state": state, "version": 4,
        "total_money": money(total), "total_tax_money": money(tax), "total_discount_money": money(discount_total),
        "total_tip_money": money(tip), "total_service_charge_money": money(0),
        "net_amount_due_money": money(0 if state == "COMPLETED" else total),
        "tenders": [{"id": f"T_{order_id}", "location_id": location_id, "transaction_id": order_id,
                     "created_at": at, "amount_money": money(total - tip), "tip_money": money(tip), "type": "CARD",
                     "card_details": {"status": "CAPTURED", "entry_method": "EMV"}, "payment_id": f"P_{order_id}"}],
    }
    if customer_id and customer_on_tender_only:
        order["tenders"][0]["customer_id"] = customer_id
    elif customer_id:
        order["customer_id"] = customer_id
    return order


def payment_for(order: dict[str, Any], *, status: str = "COMPLETED") -> dict[str, Any]:
    """The Payment of an order's card tender, as in a payment.* notification."""
    tender = order["tenders"][0]
    payment = {"id": tender["payment_id"], "created_at": tender["created_at"], "updated_at": order["updated_at"],
               "amount_money": tender["amount_money"], "tip_money": tender["tip_money"],
               "total_money": order["total_money"], "approved_money": order["total_money"], "status": status,
               "source_type": "CARD", "location_id": order["location_id"], "order_id": order["id"],
               "version_token": "v1"}
    if order.get("customer_id"):
        payment["customer_id"] = order["customer_id"]
    return payment


def square_event(event_type: str, event_id: str, *, object_type: str, object_id: str, obj: dict[str, Any],
                 merchant_id: str = "ML_FAKE", created_at: datetime | None = None) -> dict[str, Any]:
    """A webhook notification body: `{merchant_id, type, event_id, created_at, data: {type, id, object}}`."""
    return {"merchant_id": merchant_id, "type": event_type, "event_id": event_id,
            "created_at": rfc3339(created_at or datetime.now(UTC)),
            "data": {"type": object_type, "id": object_id, "object": obj}}


def payment_event(event_type: str, event_id: str, order: dict[str, Any], **kw: Any) -> dict[str, Any]:
    payment = payment_for(order, **kw)
    return square_event(event_type, event_id, object_type="payment", object_id=payment["id"],
                        obj={"payment": payment})


def order_event(event_type: str, event_id: str, order: dict[str, Any]) -> dict[str, Any]:
    key = "order_updated" if event_type == "order.updated" else "order_created"
    change = {"order_id": order["id"], "version": order["version"], "location_id": order["location_id"],
              "state": order["state"], "created_at": order["created_at"], "updated_at": order["updated_at"]}
    return square_event(event_type, event_id, object_type=key, object_id=order["id"], obj={key: change})


def _route(method: str, path: str) -> str:
    """Collapse ids so failure injection can target an endpoint: /v2/customers/X -> /v2/customers/{id}."""
    parts = path.split("/")
    collapsed = [p if p in {"v2", "customers", "orders", "catalog", "object", "list", "locations",
                            "custom-attributes", "loyalty", "accounts", "search", "accumulate", "adjust", ""}
                 else "{id}" for p in parts]
    return f"{method} {'/'.join(collapsed)}"


@contextmanager
def serve(app: FakeSquare) -> Iterator[str]:
    """Serve `app` on a free loopback port; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: avoid 40 ms delayed ACKs

        def _respond(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = app.handle(self.command, self.path, headers, body)
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
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
