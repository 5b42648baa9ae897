"""The role matrix, proven: every route in the OpenAPI spec and every /ui page, against no key, a bad
key and each role, answers allowed / 401 / 403 as the architecture's table says.

A route or page without an entry in ACCESS fails the test, so a new route cannot ship without a
decision about who may call it. "Allowed" means the caller got past authentication and roles: any
answer but 401/403 (a 422 for the empty body these probes send is allowed; nothing is executed).
Pages answer a browser: no session -> 303 to the login page (the page's 401), wrong role -> 403.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.routing import Mount

from db.engine import make_engine, migrate
from db.tables import Customer, Offer
from tests.integration.review_world import ROLES, ReviewWorld, review_world

ANY = frozenset(ROLES)
ADMIN = frozenset({"admin"})


@dataclass(frozen=True)
class Access:
    kind: str
    """key (API key header) | page (GET, session) | action (POST, session + CSRF) | public | signed | login"""
    roles: frozenset[str] = frozenset()
    """Who may (admin always may)."""


def key(*roles: str) -> Access:
    return Access("key", frozenset(roles) | ADMIN)


def page(*roles: str) -> Access:
    return Access("page", frozenset(roles) | ADMIN)


def action(*roles: str) -> Access:
    return Access("action", frozenset(roles) | ADMIN)


PUBLIC = Access("public")
SIGNED = Access("signed")  # webhooks: a signature, never a key

# The architecture's table (shared/design/architecture.md, "Public HTTP API"), route by route.
ACCESS: dict[tuple[str, str], Access] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/info"): PUBLIC,  # what Agent Inbox asks a deployment before it has a key
    ("POST", "/webhooks/pos"): SIGNED,
    ("POST", "/webhooks/square"): SIGNED,
    ("GET", "/events/{event_id}"): key("manager"),
    ("GET", "/offers"): key("marketer", "manager"),
    ("GET", "/offers/{offer_id}"): key("marketer", "manager"),
    ("POST", "/offers/{offer_id}/review"): key("marketer", "manager"),
    ("GET", "/customers/{customer_id}"): key("associate", "manager"),
    ("POST", "/customers/{customer_id}/ask"): key("associate", "manager"),
    ("GET", "/segments/search"): key("marketer"),
    ("GET", "/catalog"): key(*ROLES),
    ("POST", "/threads/search"): key("marketer", "manager"),
    ("GET", "/threads/{thread_id}"): key("marketer", "manager"),
    ("GET", "/threads/{thread_id}/state"): key("marketer", "manager"),
    ("POST", "/threads/{thread_id}/state"): key("marketer", "manager"),
    ("POST", "/threads/{thread_id}/runs"): key("marketer", "manager"),
    ("POST", "/threads/{thread_id}/runs/stream"): key("marketer", "manager"),
    ("POST", "/campaigns"): key("marketer"),
    ("PATCH", "/campaigns/{campaign_id}"): key("marketer", "manager"),
    ("POST", "/campaigns/{campaign_id}/approve"): key("manager"),
    ("POST", "/campaigns/{campaign_id}/cancel"): key("manager"),
    ("GET", "/campaigns/{campaign_id}"): key("marketer", "manager"),
    ("GET", "/campaigns/{campaign_id}/report"): key("marketer", "manager"),
    ("GET", "/campaigns/{campaign_id}/report.png"): key("marketer", "manager"),
    # Pages.
    ("GET", "/ui"): PUBLIC,  # sends you to your page or to the login
    ("GET", "/ui/"): PUBLIC,
    ("GET", "/ui/login"): PUBLIC,
    ("POST", "/ui/login"): Access("login", ANY),
    ("POST", "/ui/logout"): action(*ROLES),
    ("GET", "/ui/review"): page("marketer", "manager"),
    ("GET", "/ui/offers/{offer_id}"): page("marketer", "manager"),
    ("POST", "/ui/offers/{offer_id}/check"): action("marketer", "manager"),
    ("POST", "/ui/offers/{offer_id}/review"): action("marketer", "manager"),
    ("GET", "/ui/guest"): page("associate", "manager"),
    ("GET", "/ui/campaigns"): page("marketer", "manager"),
    ("GET", "/ui/campaigns/{campaign_id}"): page("marketer", "manager"),
    ("GET", "/ui/campaigns/{campaign_id}/report.png"): page("marketer", "manager"),
    ("POST", "/ui/guest/ask"): action("associate", "manager"),
    ("GET", "/ui/static/{path}"): PUBLIC,
}

_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
DENIED = (401, 403)


def _walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(full path, route) of every route, through included routers (FastAPI wraps them)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from _walk(included.routes, prefix + str(getattr(context, "prefix", "") or ""))
        elif isinstance(route, Mount):
            yield prefix + route.path + "/{path}", route
        else:
            yield prefix + str(getattr(route, "path", "")), route


def app_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every operation in the OpenAPI spec and every page (routes outside the spec)."""
    found = {(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops}
    for path, route in _walk(app.routes):
        if isinstance(route, Mount):
            found.add(("GET", path))
        elif isinstance(route, APIRoute) and not route.include_in_schema:
            found |= {(method, path) for method in route.methods or () if method != "HEAD"}
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReviewWorld]:
    """One SQLite world for the whole matrix (authorization does not depend on the database engine)."""
    tmp: Path = tmp_path_factory.mktemp("matrix")
    url = f"sqlite:///{tmp / 'matrix.db'}"
    migrate(url)
    engine: Engine = make_engine(url)
    # Square configured, so its webhook answers 401 to an unsigned call rather than 404 "not configured".
    with review_world(url, engine, tmp, sales=8, min_pending=1, square_webhook_signature_key="sq-key",
                      square_webhook_url="https://example.test/webhooks/square") as w:
        yield w
    engine.dispose()


def test_every_route_and_page_has_an_entry(world: ReviewWorld) -> None:
    routes = app_routes(world.app)
    missing = sorted(routes - set(ACCESS))
    assert not missing, f"routes without a role-matrix entry (add them to ACCESS): {missing}"
    stale = sorted(set(ACCESS) - routes)
    assert not stale, f"entries for routes that no longer exist: {stale}"


def _path_values(w: ReviewWorld) -> dict[str, str]:
    with Session(w.engine) as s:
        offer = s.get(Offer, w.pending[0])
        assert offer is not None and offer.event_id
        customer = s.exec(select(Customer).where(Customer.id == offer.customer_id)).one()
    return {"offer_id": offer.id, "thread_id": offer.event_id, "event_id": offer.event_id,
            "customer_id": customer.pos_customer_id, "path": "ui.css",
            "campaign_id": "cmp_none"}  # past roles, a missing campaign is a 404: allowed, nothing runs


def _login(w: ReviewWorld, role: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=w.url, timeout=60)
    token = _CSRF_RE.search(client.get("/ui/login").text).group(1)  # type: ignore[union-attr]
    r = client.post("/ui/login", data={"api_key": w.keys[role], "csrf_token": token})
    assert r.status_code == 303
    # Every logged-in page carries the CSRF token (the logout form in the header), a 403 page included.
    landing = client.get(r.headers["location"])
    match = _CSRF_RE.search(landing.text)
    assert match, f"no CSRF token on {r.headers['location']} for {role}"
    return client, match.group(1)


def _probe(client: httpx.Client, method: str, url: str, *, headers: dict[str, str] | None = None) -> httpx.Response:
    if method == "GET":
        return client.get(url, headers=headers)
    if method == "PATCH":
        return client.patch(url, json={}, headers=headers)
    if url.startswith("/ui/") and not url.endswith("/check"):
        return client.post(url, data={"csrf_token": (headers or {}).get("x-csrf-token", "")}, headers=headers)
    return client.post(url, json={}, headers=headers)


def test_role_matrix(world: ReviewWorld) -> None:
    w = world
    values = _path_values(w)
    sessions = {role: _login(w, role) for role in ROLES}
    failures: list[str] = []

    def expect(ok: bool, what: str) -> None:
        if not ok:
            failures.append(what)

    with httpx.Client(base_url=w.url, timeout=60) as anon:
        for (method, template), access in sorted(ACCESS.items()):
            url = template.format(**values)
            if access.kind in ("public", "signed"):
                for caller, headers in [("none", {}), *((r, {"authorization": f"Bearer {w.keys[r]}"}) for r in ROLES)]:
                    status = _probe(anon, method, url, headers=headers).status_code
                    if access.kind == "signed":
                        expect(status == 401, f"{method} {template} {caller}: {status}, want 401 (no signature)")
                    else:
                        expect(status not in DENIED, f"{method} {template} {caller}: {status}, want allowed")
            elif access.kind == "key":
                checks = [("none", {}, 401), ("bad key", {"authorization": "Bearer la_bad_key"}, 401),
                          ("bad x-api-key", {"x-api-key": "la_bad_key"}, 401)]
                for role in ROLES:
                    want = 0 if role in access.roles else 403
                    checks.append((role, {"authorization": f"Bearer {w.keys[role]}"}, want))
                    checks.append((f"{role} x-api-key", {"x-api-key": w.keys[role]}, want))
                for caller, headers, want in checks:
                    status = _probe(anon, method, url, headers=headers).status_code
                    ok = status not in DENIED if want == 0 else status == want
                    expect(ok, f"{method} {template} {caller}: {status}, want {want or 'allowed'}")
            elif access.kind == "page":
                for caller, cookies in (("none", {}), ("bad session", {"la_session": "forged.cookie"})):
                    r = httpx.get(w.url + url, cookies=cookies)
                    expect(r.status_code == 303 and r.headers["location"].startswith("/ui/login"),
                           f"{method} {template} {caller}: {r.status_code}, want 303 to the login page")
                for role in ROLES:
                    client, _ = sessions[role]
                    status = client.get(url).status_code
                    if role in access.roles:  # past the role check, the missing campaign of _path_values is a 404
                        ok = status == 200 or (status == 404 and "{campaign_id}" in template)
                        expect(ok, f"{method} {template} {role}: {status}, want 200")
                    else:
                        expect(status == 403, f"{method} {template} {role}: {status}, want 403")
            elif access.kind == "action":
                for caller, cookies in (("none", {}), ("bad session", {"la_session": "forged.cookie"})):
                    with httpx.Client(base_url=w.url, cookies=cookies) as stranger:
                        status = _probe(stranger, method, url).status_code
                    expect(status == 401, f"{method} {template} {caller}: {status}, want 401")
                for role in ROLES:
                    client, csrf = sessions[role]
                    if template == "/ui/logout":
                        continue  # probed last: it ends the session
                    status = _probe(client, method, url, headers={"x-csrf-token": csrf}).status_code
                    allowed = role in access.roles
                    ok = status not in DENIED if allowed else status == 403
                    expect(ok, f"{method} {template} {role}: {status}, want {'allowed' if allowed else 403}")
                    if role in access.roles:
                        no_csrf = _probe(client, method, url).status_code
                        expect(no_csrf == 403, f"{method} {template} {role} without CSRF: {no_csrf}, want 403")
            elif access.kind == "login":
                for caller, raw in [("none", ""), ("bad key", "la_bad_key"), *((r, w.keys[r]) for r in ROLES)]:
                    with httpx.Client(base_url=w.url) as browser:  # a fresh login form each time
                        token = _CSRF_RE.search(browser.get("/ui/login").text).group(1)  # type: ignore[union-attr]
                        status = browser.post(url, data={"api_key": raw, "csrf_token": token}).status_code
                    want = 303 if caller in access.roles else 401
                    expect(status == want, f"{method} {template} {caller}: {status}, want {want}")
        for role in ROLES:
            client, csrf = sessions[role]
            status = client.post("/ui/logout", data={"csrf_token": csrf}).status_code
            expect(status == 303, f"POST /ui/logout {role}: {status}, want 303")
            after = client.get("/ui/review")
            expect(after.status_code == 303, f"GET /ui/review after {role} logged out: {after.status_code}")
    assert not failures, "\n".join(failures)
