"""Input limits on every route, against a real server: body size (413), oversized numbers (422)."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI, Query
from sqlalchemy import text
from sqlalchemy.engine import Engine

from api.limits import install_input_limits
from tests.integration.conftest import Live, ServerThread, make_settings

MB = 1024 * 1024


def open_socket(live_url: str) -> socket.socket:
    parts = urlsplit(live_url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def read_status(sock: socket.socket) -> tuple[int, bytes]:
    """Status code and raw response (headers + body) of one HTTP/1.1 answer."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(head.split(b" ")[1]), head + b"\r\n\r\n" + rest


def request_head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: test", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_declared_30mb_review_body_is_refused_before_it_is_sent(live: Live) -> None:
    """Only the headers go out; the 413 comes back anyway, so the server read none of the 30 MB."""
    with open_socket(live.url) as sock:
        sock.sendall(request_head("/offers/off_any/review", {
            "Authorization": f"Bearer {live.manager_key}", "Content-Length": str(30 * MB)}))
        code, raw = read_status(sock)
    assert code == 413, raw
    assert b"larger than" in raw and b"connection: close" in raw.lower()


def test_chunked_body_is_refused_as_soon_as_it_passes_the_limit(live: Live) -> None:
    """No Content-Length: the server counts the stream and answers before the upload ends."""
    limit = live.settings.api_max_body_bytes
    with open_socket(live.url) as sock:
        sock.sendall(request_head("/offers/off_any/review", {
            "Authorization": f"Bearer {live.manager_key}", "Transfer-Encoding": "chunked"}))
        piece = b"x" * 16384
        for _ in range(limit // len(piece) + 2):  # just over the limit, and the final chunk never sent
            sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        code, raw = read_status(sock)
    assert code == 413, raw


def test_30mb_review_body_from_an_ordinary_client_is_413(live: Live) -> None:
    with live.client() as c:
        try:
            r = c.post("/offers/off_any/review", content=b"{" + b" " * (30 * MB) + b"}",
                       headers={"authorization": f"Bearer {live.manager_key}", "content-type": "application/json"})
        except httpx.WriteError:  # the server may close before the client finishes writing: also a refusal
            return
    assert r.status_code == 413, r.text


def body_routes(app: FastAPI) -> list[str]:
    """Every documented route that takes a body, path parameters filled in."""
    return [re.sub(r"\{[^}]+\}", "x", path) for path, ops in app.openapi()["paths"].items()
            if {"post", "put", "patch"} & set(ops)]


def test_every_route_has_a_limit_and_webhooks_keep_theirs(live: Live) -> None:
    """A body between the two limits: too big for any other route, fine for a webhook."""
    from api.main import create_app

    size = (live.settings.api_max_body_bytes + live.settings.webhook_max_body_bytes) // 2
    assert live.settings.api_max_body_bytes < size < live.settings.webhook_max_body_bytes
    body = b'{"pad": "' + b"x" * size + b'"}'
    auth = {"authorization": f"Bearer {live.manager_key}", "content-type": "application/json"}
    routes = [p for p in body_routes(create_app(live.settings, run_migrations=False))
              if not p.startswith("/webhooks/")]
    assert "/offers/x/review" in routes
    with live.client() as c:
        for path in [*routes, "/no/such/route"]:
            assert c.post(path, content=body, headers=auth).status_code == 413, path
        # The webhook reads it (and refuses it for its signature, not its size).
        assert c.post("/webhooks/pos", content=body, headers={"x-signature": "t=1,v1=00"}).status_code == 401


def test_70k_character_subject_is_refused_by_size_before_any_parsing(live: Live) -> None:
    """The report's edit (a 70,000-character `email_subject`) never reaches JSON parsing or the PII regexes."""
    body = json.dumps({"action": "edit", "edits": {"email_subject": "a" * 70_000}}).encode()
    with live.client() as c:
        r = c.post("/offers/off_any/review", content=body,
                   headers={"authorization": f"Bearer {live.manager_key}", "content-type": "application/json"})
        assert r.status_code == 413, r.text
        assert c.get("/healthz").status_code == 200


def test_slow_upload_does_not_hold_up_other_requests(live: Live) -> None:
    with open_socket(live.url) as sock:
        sock.sendall(request_head("/offers/off_any/review", {
            "Authorization": f"Bearer {live.manager_key}", "Content-Length": "1000"}))
        sock.sendall(b'{"action": ')  # ... and the rest never comes
        with live.client() as c:
            assert c.get("/healthz").status_code == 200


def test_query_integers_past_int64_are_422(live: Live) -> None:
    auth = {"authorization": f"Bearer {live.manager_key}"}
    with live.client() as c:
        for query in ("offset=9223372036854775808", "offset=-1", "offset=1000001", "limit=9223372036854775808",
                      "offset=" + "9" * 5000, "offset=\u00b2"):
            r = c.get(f"/offers?{query}", headers=auth)
            assert r.status_code == 422, (query, r.text)
        assert c.get("/offers?offset=1000000&limit=500", headers=auth).status_code == 200


def test_every_integer_parameter_has_an_upper_bound(live: Live) -> None:
    """Query and path integers are bounded in their types (422), so none can reach the database too large."""
    from api.main import create_app

    unbounded = []
    for path, operations in create_app(live.settings, run_migrations=False).openapi()["paths"].items():
        for method, operation in operations.items():
            for param in operation.get("parameters", []):
                schemas = [param["schema"], *param["schema"].get("anyOf", [])]
                if any(s.get("type") == "integer" for s in schemas) and not any("maximum" in s for s in schemas):
                    unbounded.append(f"{method.upper()} {path} {param['name']}")
    assert unbounded == []


def probe_app(database_url: str, data_dir: Path, engine: Engine) -> FastAPI:
    """A route with a deliberately unbounded integer, to prove the net under the per-route bounds."""
    app = FastAPI()
    install_input_limits(app, make_settings(database_url, data_dir))

    @app.get("/probe")
    def probe(n: int = Query()) -> dict[str, Any]:
        with engine.connect() as conn:
            return {"n": conn.execute(text("SELECT CAST(:n AS BIGINT)"), {"n": n}).scalar_one()}

    @app.get("/bug")
    def bug() -> dict[str, Any]:
        with engine.connect() as conn:  # a data error that is not an out-of-range number stays a 500
            return {"x": conn.execute(text("SELECT CAST('x' AS INTEGER) / 0")).scalar_one()}

    return app


@contextmanager
def serve(app: FastAPI) -> Iterator[httpx.Client]:
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def test_unbounded_integer_reaching_the_database_is_422_not_500(database_url: str, engine: Engine,
                                                                 tmp_path: Path) -> None:
    app = probe_app(database_url, tmp_path, engine)
    with serve(app) as client:
        assert client.get("/probe", params={"n": 41}).json() == {"n": 41}
        r = client.get("/probe", params={"n": 2**63})
        assert r.status_code == 422 and "out of range" in r.json()["detail"], r.text
        if engine.dialect.name == "postgresql":
            assert client.get("/bug").status_code == 500
