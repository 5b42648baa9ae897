"""Browser sessions for the /ui pages: a signed, expiring cookie that names an API key.

Logging in with an API key sets `la_session` (HttpOnly, SameSite=Strict, Max-Age = the session
lifetime, Secure over HTTPS). The cookie is stateless and carries no role: every request re-reads
the key it names, so revoking the key (`loyalty-agent apikey revoke ID`) ends its sessions at once,
and a role change applies on the next click. Logging out clears this browser's cookie; being
stateless, a copy of the cookie taken before stays valid until it expires or the key is revoked.

Every state-changing request carries a CSRF token (form field `csrf_token`, or header
`X-CSRF-Token` for the page's own fetch calls): an HMAC of the session id, so it needs no storage
and dies with the session. The login form is protected the same way with a short-lived nonce cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request, status
from sqlmodel import Session

from api.deps import get_engine_dep, role_allows
from db.tables import ApiKey

SESSION_COOKIE = "la_session"
LOGIN_COOKIE = "la_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LOGIN_NONCE_TTL_S = 3600


class SessionSigner:
    """HMAC-SHA256 signatures over compact JSON payloads and CSRF tags (one secret per deployment)."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def _mac(self, data: bytes) -> bytes:
        return hmac.new(self._key, data, hashlib.sha256).digest()

    def sign(self, payload: dict[str, Any]) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{_b64(self._mac(body.encode()))}"

    def unsign(self, token: str) -> dict[str, Any] | None:
        """The payload of a token this signer made, else None (tampered, truncated or foreign)."""
        body, _, mac = token.partition(".")
        if not body or not mac or len(token) > 1024:
            return None
        try:
            expected = _b64(self._mac(body.encode()))
            if not hmac.compare_digest(expected, mac):
                return None
            payload = json.loads(_unb64(body))
        except (ValueError, UnicodeError):
            return None
        return payload if isinstance(payload, dict) else None

    def tag(self, purpose: str, value: str) -> str:
        return _b64(self._mac(f"{purpose}|{value}".encode()))

    def check_tag(self, purpose: str, value: str, tag: str | None) -> bool:
        return bool(tag) and hmac.compare_digest(self.tag(purpose, value), tag or "")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_fingerprint(key: ApiKey) -> str:
    """Binds a session to one key row: a different key can never inherit it, even with the same id."""
    return key.key_hash[:16]


@dataclass(frozen=True)
class UiSession:
    """A logged-in browser: the (still active) API key and the session's CSRF token."""

    key: ApiKey
    sid: str
    csrf_token: str

    @property
    def role(self) -> str:
        return self.key.role

    @property
    def reviewer(self) -> str:
        return f"reviewer:{self.key.id}"


def signer(request: Request) -> SessionSigner:
    return request.app.state.ui_signer  # type: ignore[no-any-return]


def new_session_cookie(request: Request, key: ApiKey) -> str:
    ttl = request.app.state.settings.ui_session_ttl_s
    payload = {"kid": key.id, "fp": key_fingerprint(key), "sid": secrets.token_urlsafe(16),
               "exp": int(time.time()) + ttl}
    return signer(request).sign(payload)


def read_session(request: Request) -> UiSession | None:
    """The session of this request, or None: no cookie, bad signature, expired, key revoked or gone."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    sign = signer(request)
    payload = sign.unsign(token)
    if payload is None:
        return None
    kid, fp, sid, exp = payload.get("kid"), payload.get("fp"), payload.get("sid"), payload.get("exp")
    if not isinstance(kid, int) or not isinstance(sid, str) or not isinstance(exp, int) or exp < time.time():
        return None
    with Session(get_engine_dep(request)) as db:
        key = db.get(ApiKey, kid)
    if key is None or key.revoked_at is not None or key_fingerprint(key) != fp:
        return None
    return UiSession(key=key, sid=sid, csrf_token=sign.tag("csrf", sid))


def set_cookie(request: Request, response: Any, name: str, value: str, *, max_age: int, path: str = "/ui") -> None:
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


# ------------------------------------------------------------------------------------ login CSRF


def login_nonce(request: Request) -> tuple[str, bool]:
    """(nonce, whether it is new and must be set as the login cookie)."""
    current = request.cookies.get(LOGIN_COOKIE)
    if current and 16 <= len(current) <= 64:
        return current, False
    return secrets.token_urlsafe(24), True


def login_csrf_ok(request: Request, token: str | None) -> bool:
    nonce = request.cookies.get(LOGIN_COOKIE)
    return bool(nonce) and signer(request).check_tag("login", nonce or "", token)


# ------------------------------------------------------------------------------- dependencies


class LoginRequired(Exception):
    """A page was asked for without a valid session: the browser is sent to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageError(HTTPException):
    """A refusal on a /ui request: an HTML page for the browser, JSON for the page's fetch calls."""


def page_session(*roles: str) -> Callable[[Request], UiSession]:
    """Dependency for GET pages: a session whose key has one of `roles` (admin always passes)."""

    def _page(request: Request) -> UiSession:
        ui = read_session(request)
        if ui is None:
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(path)
        if not role_allows(ui.role, roles):
            raise PageError(status.HTTP_403_FORBIDDEN, f"the {ui.role} role may not open this page; "
                            f"it is for {', '.join(roles)}")
        return ui

    return _page


def action_session(*roles: str) -> Callable[[Request], Coroutine[Any, Any, UiSession]]:
    """Dependency for state-changing /ui requests: session (401), role (403), then CSRF token (403)."""

    async def _action(request: Request) -> UiSession:
        ui = read_session(request)
        if ui is None:
            raise PageError(status.HTTP_401_UNAUTHORIZED, "not logged in, or the session ended; log in again")
        if not role_allows(ui.role, roles):
            raise PageError(status.HTTP_403_FORBIDDEN, f"role {ui.role!r} may not do this; needs {list(roles)}")
        token = request.headers.get(CSRF_HEADER)
        if token is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            value = (await request.form()).get(CSRF_FIELD)
            token = value if isinstance(value, str) else None
        if not signer(request).check_tag("csrf", ui.sid, token):
            raise PageError(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token; reload the page")
        return ui

    return _action
