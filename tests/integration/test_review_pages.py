"""The review pages over HTTP against a running server: login, session, CSRF, revocation, escaping,
the live check (which executes nothing) and the queue filters."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from api.ui.session import SessionSigner
from db.crud import revoke_api_key
from db.engine import session_scope
from db.tables import ApiKey, AuditEvent, Offer, OutboundMessage
from tests.integration.review_world import ReviewWorld, review_world

UI_SECRET = "test-ui-session-secret"
_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def _login(w: ReviewWorld, role: str, *, next_path: str = "") -> httpx.Client:
    client = httpx.Client(base_url=w.url, timeout=60)
    form = client.get("/ui/login")
    token = _CSRF_RE.search(form.text).group(1)  # type: ignore[union-attr]
    r = client.post("/ui/login", data={"api_key": w.keys[role], "csrf_token": token, "next": next_path})
    assert r.status_code == 303, r.text
    return client


def _csrf(page: httpx.Response) -> str:
    match = _CSRF_RE.search(page.text)
    assert match, "every logged-in page carries the session's CSRF token"
    return match.group(1)


def _set_cookie(response: httpx.Response, name: str) -> str:
    return next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}="))


def test_login_session_csrf_logout_and_revocation(database_url: str, engine: Engine, tmp_path: Path) -> None:
    with review_world(database_url, engine, tmp_path, ui_session_secret=UI_SECRET,
                      cors_origins=["http://inbox.test"]) as w, httpx.Client(base_url=w.url, timeout=60) as anon:
        # CORS: the configured origin (a browser-hosted Agent Inbox) may call with x-api-key; others may not.
        preflight = {"access-control-request-method": "POST", "access-control-request-headers": "x-api-key"}
        allowed = anon.options("/threads/search", headers={"origin": "http://inbox.test", **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "http://inbox.test"
        assert "x-api-key" in allowed.headers["access-control-allow-headers"].lower()
        other = anon.options("/threads/search", headers={"origin": "http://elsewhere.test", **preflight})
        assert "access-control-allow-origin" not in other.headers

        r = anon.get("/ui/review")
        assert r.status_code == 303 and r.headers["location"] == "/ui/login?next=/ui/review"
        form = anon.get("/ui/login?next=/ui/review")
        assert form.status_code == 200
        login_cookie = _set_cookie(form, "la_login").lower()
        assert "httponly" in login_cookie and "samesite=strict" in login_cookie and "path=/ui/login" in login_cookie
        token = _CSRF_RE.search(form.text).group(1)  # type: ignore[union-attr]

        wrong = anon.post("/ui/login", data={"api_key": "la_nope_nope", "csrf_token": token})
        assert wrong.status_code == 401 and "la_session" not in wrong.headers.get("set-cookie", "")
        no_csrf = anon.post("/ui/login", data={"api_key": w.keys["marketer"], "csrf_token": "forged"})
        assert no_csrf.status_code == 403 and "la_session" not in no_csrf.headers.get("set-cookie", "")
        ok = anon.post("/ui/login", data={"api_key": w.keys["marketer"], "csrf_token": token, "next": "/ui/review"})
        assert ok.status_code == 303 and ok.headers["location"] == "/ui/review"
        session_cookie = _set_cookie(ok, "la_session").lower()
        assert "httponly" in session_cookie and "samesite=strict" in session_cookie
        assert "max-age=28800" in session_cookie and "path=/ui" in session_cookie
        assert w.keys["marketer"].lower() not in session_cookie  # the key itself never goes into the cookie

        queue = anon.get("/ui/review")
        assert queue.status_code == 200
        assert all(offer_id in queue.text for offer_id in w.pending)
        csrf = _csrf(queue)

        # Tampered, foreign and expired cookies are no session.
        good = anon.cookies.get("la_session")
        assert good
        signer = SessionSigner(UI_SECRET)
        payload = signer.unsign(good)
        assert payload is not None
        for bad in (good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"),
                    SessionSigner("other-secret").sign(payload),
                    signer.sign({**payload, "exp": int(time.time()) - 1}),
                    signer.sign({**payload, "kid": w.key_ids["manager"]})):  # another key's id, this key's print
            r = httpx.get(f"{w.url}/ui/review", cookies={"la_session": bad})
            assert r.status_code == 303 and r.headers["location"].startswith("/ui/login"), bad

        # Open redirects are refused: `next` must be one of our pages.
        evil = _login(w, "manager", next_path="//evil.example/ui/")
        assert evil.get("/ui/review").status_code == 200
        form2 = evil.get("/ui/login")
        token2 = _CSRF_RE.search(form2.text).group(1)  # type: ignore[union-attr]
        r = evil.post("/ui/login", data={"api_key": w.keys["manager"], "csrf_token": token2,
                                         "next": "https://evil.example/"})
        assert r.headers["location"] == "/ui/review"

        # Roles: an associate may not open the review pages.
        associate = _login(w, "associate")
        denied = associate.get("/ui/review")
        assert denied.status_code == 403 and "may not open this page" in denied.text

        # CSRF on state-changing requests; logout needs it too.
        check_url = f"/ui/offers/{w.pending[0]}/check"
        assert anon.post(check_url, json={"edits": {}}).status_code == 403
        assert anon.post(check_url, json={"edits": {}}, headers={"x-csrf-token": csrf}).status_code == 200
        assert anon.post("/ui/logout", data={"csrf_token": "forged"}).status_code == 403

        # Revoking the key ends its sessions at once.
        with session_scope(w.engine) as s:
            revoke_api_key(s, w.key_ids["marketer"])
        r = anon.get("/ui/review")
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
        assert anon.post(check_url, json={"edits": {}}, headers={"x-csrf-token": csrf}).status_code == 401

        # Logout clears the cookie.
        page = evil.get("/ui/review")
        out = evil.post("/ui/logout", data={"csrf_token": _csrf(page)})
        assert out.status_code == 303 and out.headers["location"] == "/ui/login"
        assert "max-age=0" in _set_cookie(out, "la_session").lower()  # deleted
        assert evil.get("/ui/review").status_code == 303


def _side_effects(engine: Engine, offer_id: str) -> tuple[str, object, int, int]:
    with Session(engine) as s:
        offer = s.get(Offer, offer_id)
        assert offer is not None
        audits = s.exec(select(func.count()).select_from(AuditEvent).where(col(AuditEvent.offer_id) == offer_id)).one()
        messages = s.exec(select(func.count()).select_from(OutboundMessage)
                          .where(col(OutboundMessage.offer_id) == offer_id)).one()
        return offer.status, offer.updated_at, int(audits), int(messages)


def test_offer_page_escapes_copy_and_live_check_executes_nothing(database_url: str, engine: Engine,
                                                                 tmp_path: Path) -> None:
    with review_world(database_url, engine, tmp_path) as w:
        offer_id = w.pending[0]
        script = "<script>alert('pwned')</script>"
        with session_scope(w.engine) as s:
            offer = s.get(Offer, offer_id)
            assert offer is not None
            offer.rationale = f"Rationale with {script}"
            offer.email_subject = "<img src=x onerror=alert(1)>"
            original_sms = offer.sms_text or ""
            offer.sms_text = original_sms + " " + script
            s.add(offer)
        marketer = _login(w, "marketer")
        page = marketer.get(f"/ui/offers/{offer_id}")
        assert page.status_code == 200
        assert script not in page.text and "<img src=x" not in page.text
        assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in page.text
        assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
        assert "customer_id" not in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]  # no inline script would run
        assert page.headers["x-frame-options"] == "DENY"
        csrf = _csrf(page)
        before = _side_effects(w.engine, offer_id)

        def check(client: httpx.Client, edits: dict[str, object], token: str) -> httpx.Response:
            return client.post(f"/ui/offers/{offer_id}/check", json={"edits": edits}, headers={"x-csrf-token": token})

        # The markup in the stored copy is what the copy rule finds.
        current = check(marketer, {}, csrf)
        assert current.status_code == 200
        assert current.json()["verdict"] == "block"
        assert any("markup" in f for f in current.json()["copy_findings"])

        long_sms = "{first_name}, " + "a very long message about dinner " * 6 + "Reply STOP to opt out"
        r = check(marketer, {"sms_text": long_sms}, csrf).json()
        assert r["sms"]["length"] > 160 and r["sms"]["segments"] >= 2 and r["sms"]["encoding"] == "GSM-7"
        assert r["sms"]["opt_out_present"] is True and r["verdict"] == "block"
        assert any("characters" in f for f in r["copy_findings"])
        r = check(marketer, {"sms_text": "Hi {first_name}, code {promo_code} is yours"}, csrf).json()
        assert r["sms"]["opt_out_present"] is False and r["sms"]["segments"] == 1
        assert any("opt-out" in f for f in r["copy_findings"])
        clean = check(marketer, {"sms_text": original_sms, "email_subject": None}, csrf)
        assert clean.status_code == 200 and clean.json()["copy_findings"] == []

        # A marketer's live check on terms is refused as the review would refuse it; bad values are 422.
        assert check(marketer, {"discount_pct": 10, "bonus_points": 10}, csrf).status_code == 403
        manager = _login(w, "manager")
        manager_csrf = _csrf(manager.get(f"/ui/offers/{offer_id}"))
        assert check(manager, {"expires_in_days": 1000}, manager_csrf).status_code == 422
        assert check(manager, {"customer_id": 3}, manager_csrf).status_code == 422
        terms = check(manager, {"channel": "email", "email_subject": "A treat", "email_body": "Hi {first_name}"},
                      manager_csrf)
        assert terms.status_code == 200 and {v["rule"] for v in terms.json()["results"]} >= {"consent", "copy"}

        assert _side_effects(w.engine, offer_id) == before  # nothing was written or sent


def test_review_queue_filters(database_url: str, engine: Engine, tmp_path: Path) -> None:
    with review_world(database_url, engine, tmp_path) as w:
        with Session(w.engine) as s:
            offers = {o.id: o for o in s.exec(select(Offer).where(col(Offer.id).in_(w.pending))).all()}
            assert s.exec(select(func.count()).select_from(ApiKey)).one() == 4
        client = _login(w, "manager")

        def shown(query: str) -> set[str]:
            page = client.get("/ui/review" + query)
            assert page.status_code == 200
            return {offer_id for offer_id in offers if offer_id in page.text}

        assert shown("") == set(w.pending)
        strategy = offers[w.pending[0]].strategy
        assert shown(f"?strategy={strategy}") == {o for o, row in offers.items() if row.strategy == strategy}
        assert shown("?reason=escalation") == set(w.pending)  # every tier is escalated by this merchant's policy
        assert shown("?reason=fatigue") == set()
        assert shown("?trigger=campaign") == set()
        assert shown("?trigger=transaction&min_age_hours=24") == set()  # all were drafted minutes ago
        with session_scope(w.engine) as s:
            old = s.get(Offer, w.pending[0])
            assert old is not None
            old.created_at = old.created_at.replace(year=old.created_at.year - 1)
            s.add(old)
        assert shown("?min_age_hours=24") == {w.pending[0]}
        assert shown("?min_age_hours=abc") == set(w.pending)  # a nonsense age is no filter, not a 500
