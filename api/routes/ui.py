"""The review workspace: server-rendered pages under /ui (Jinja2, a little plain JavaScript).

- `/ui/login` (API key -> session cookie), `/ui/logout`;
- `/ui/review`: the queue, filtered by trigger, strategy, escalating rule and age (marketer, manager);
- `/ui/offers/{id}`: guest context (pseudonymous), rationale, verdicts with evidence, audit trail
  with reviewers and before/after values, the copy with a live check, and the review buttons the
  caller's role may use. Reviews go through the same review path as `POST /offers/{id}/review`;
- `/ui/campaigns`, `/ui/campaigns/{id}`: campaigns, each with its counts, report figures and the report's plot
  (marketer, manager);
- `/ui/guest`: the associate's view (`api.routes.ui_guest`).

Every template is autoescaped: guest-facing copy is model output and is shown, never run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from agent.runner import OfferAgent
from api.deps import AgentDep, AskAgentDep, EngineDep, SettingsDep, active_api_key
from api.reviews import submit_review, validation_detail
from api.ui import offer_view
from api.ui.session import (
    LOGIN_COOKIE,
    LOGIN_NONCE_TTL_S,
    SESSION_COOKIE,
    LoginRequired,
    PageError,
    SessionSigner,
    UiSession,
    action_session,
    login_csrf_ok,
    login_nonce,
    new_session_cookie,
    page_session,
    read_session,
    set_cookie,
    signer,
)
from core.offer_words import describe_offer
from core.settings import Settings
from db.review_queue import QueueFilters, queue_facets, review_queue
from db.types import utcnow

API_DIR = Path(__file__).resolve().parent.parent
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(API_DIR / "templates"), autoescape=True, undefined=jinja2.ChainableUndefined
)
REVIEW_ROLES = ("marketer", "manager")
GUEST_ROLES = ("associate", "manager")
ANY_ROLE = ("associate", "marketer", "manager")
AGE_CHOICES = ((1.0, "1 hour"), (24.0, "1 day"), (72.0, "3 days"), (168.0, "1 week"))

# Defence in depth behind autoescaping: only our own script and style run, no page may frame ours.
PAGE_HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}

router = APIRouter(prefix="/ui", tags=["ui"], include_in_schema=False)

ReviewerPage = Annotated[UiSession, Depends(page_session(*REVIEW_ROLES))]
ReviewerAction = Annotated[UiSession, Depends(action_session(*REVIEW_ROLES))]


def render(request: Request, name: str, http_status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("ui", None)
    context["url_for"] = request.url_for
    html = TEMPLATES.get_template(name).render(**context)
    return HTMLResponse(html, status_code=http_status, headers=PAGE_HEADERS)


def _home(role: str) -> str:
    return "/ui/guest" if role == "associate" else "/ui/review"


def _safe_next(next_path: str | None, role: str) -> str:
    """Only our own pages: never an absolute or protocol-relative URL (no open redirect)."""
    if next_path and next_path.startswith("/ui/") and not next_path.startswith("//") and "\\" not in next_path:
        return next_path
    return _home(role)


# -------------------------------------------------------------------------------- login / logout


@router.get("")
@router.get("/")
def ui_home(request: Request) -> RedirectResponse:
    ui = read_session(request)
    return RedirectResponse("/ui/login" if ui is None else _home(ui.role), status.HTTP_303_SEE_OTHER)


def _login_page(request: Request, *, next_path: str, error: str | None = None, status_code: int = 200) -> HTMLResponse:
    nonce, fresh = login_nonce(request)
    response = render(request, "login.html", status_code, csrf_token=signer(request).tag("login", nonce),
                      next_path=next_path, error=error)
    if fresh:
        set_cookie(request, response, LOGIN_COOKIE, nonce, max_age=LOGIN_NONCE_TTL_S, path="/ui/login")
    return response


@router.get("/login")
def login_form(request: Request, next: Annotated[str, Query(max_length=500)] = "") -> HTMLResponse:
    return _login_page(request, next_path=next)


@router.post("/login")
def login(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    api_key: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if not login_csrf_ok(request, csrf_token):
        return _login_page(request, next_path=next, status_code=status.HTTP_403_FORBIDDEN,
                           error="The login form expired; please try again.")
    with Session(engine) as db:
        key = active_api_key(db, api_key.strip()) if api_key.strip() else None
    if key is None:
        return _login_page(request, next_path=next, status_code=status.HTTP_401_UNAUTHORIZED,
                           error="That API key is unknown or revoked.")
    response = RedirectResponse(_safe_next(next, key.role), status.HTTP_303_SEE_OTHER)
    set_cookie(request, response, SESSION_COOKIE, new_session_cookie(request, key),
               max_age=settings.ui_session_ttl_s)
    response.delete_cookie(LOGIN_COOKIE, path="/ui/login")
    return response


@router.post("/logout")
async def logout(_ui: Annotated[UiSession, Depends(action_session(*ANY_ROLE))]) -> Response:
    response = RedirectResponse("/ui/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/ui")
    return response


# ------------------------------------------------------------------------------------ the queue


@router.get("/review")
def review_page(
    request: Request,
    ui: ReviewerPage,
    engine: EngineDep,
    trigger: Annotated[str, Query(max_length=64)] = "",
    strategy: Annotated[str, Query(max_length=64)] = "",
    reason: Annotated[str, Query(max_length=64)] = "",
    min_age_hours: Annotated[str, Query(max_length=16)] = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> HTMLResponse:
    try:
        age = float(min_age_hours) if min_age_hours else None
    except ValueError:
        age = None
    if age is not None and not 0 <= age <= 24 * 365:
        age = None
    filters = QueueFilters(trigger=trigger or None, strategy=strategy or None, reason=reason or None,
                           min_age_hours=age)
    now = utcnow()
    with Session(engine) as db:
        entries = review_queue(db, filters, now=now, limit=limit, offset=offset)
        facets = queue_facets(db)

    def page_url(new_offset: int) -> str:
        params = {k: v for k, v in (("trigger", trigger), ("strategy", strategy), ("reason", reason),
                                    ("min_age_hours", min_age_hours)) if v}
        return "/ui/review?" + urlencode({**params, "offset": max(0, new_offset), "limit": limit})

    return render(request, "review.html", ui=ui, entries=entries, facets=facets, filters=filters, ages=AGE_CHOICES,
                  offset=offset, limit=limit, page_url=page_url, describe=describe_offer,
                  age=lambda at: offer_view.age(at, now))


# ------------------------------------------------------------------------------------ an offer


def _offer_page(request: Request, ui: UiSession, agent: OfferAgent, offer_id: str, *, done: str = "",
                error: str | None = None, status_code: int = 200) -> HTMLResponse:
    view = offer_view.load(agent, offer_id)
    if view is None:
        raise PageError(status.HTTP_404_NOT_FOUND, f"no offer {offer_id!r}")
    message = offer_view.done_message(done, view.offer.status, ui.role)
    return render(request, "offer.html", status_code, ui=ui, done=message, error=error, **view.context(ui.role))


@router.get("/offers/{offer_id}")
def offer_page(request: Request, offer_id: str, ui: ReviewerPage, agent: AgentDep,
               done: Annotated[str, Query(max_length=16)] = "") -> HTMLResponse:
    return _offer_page(request, ui, agent, offer_id, done=done)


class CheckIn(BaseModel):
    edits: dict[str, Any] = Field(default_factory=dict, description="Edited fields, as in a review's `edits`.")


@router.post("/offers/{offer_id}/check")
async def live_check(offer_id: str, body: CheckIn, ui: ReviewerAction, agent: AgentDep) -> JSONResponse:
    """Every guardrail on the edited draft, against the guest as they are now. Executes nothing."""
    from agent.review import ReviewError, ReviewForbidden
    from agent.review_check import UnknownOffer, check_edit

    try:
        result = await run_in_threadpool(check_edit, agent, offer_id, body.edits, role=ui.role)
    except UnknownOffer as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no offer {offer_id!r}") from exc
    except ReviewForbidden as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
    except ReviewError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return JSONResponse(result.model_dump(mode="json"))


@router.post("/offers/{offer_id}/review")
async def review_form(request: Request, offer_id: str, ui: ReviewerAction, settings: SettingsDep,
                      engine: EngineDep, agent: AgentDep) -> Response:
    """The review buttons: the same review path, roles and re-check as `POST /offers/{id}/review`."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        action, edits, note = await run_in_threadpool(offer_view.decision_from_form, engine, offer_id, fields)
        await submit_review(offer_id, action=action, edits=edits, note=note, key=ui.key, settings=settings,
                            engine=engine, agent=agent)
    except HTTPException as exc:
        if exc.status_code == status.HTTP_404_NOT_FOUND:
            raise PageError(exc.status_code, str(exc.detail)) from exc
        return await run_in_threadpool(_offer_page, request, ui, agent, offer_id,
                                       error=offer_view.error_text(exc.detail), status_code=exc.status_code)
    return RedirectResponse(f"/ui/offers/{quote(offer_id)}?done={action}", status.HTTP_303_SEE_OTHER)


# ------------------------------------------------------------------------------------ campaigns


def _campaign_report(agent: OfferAgent, settings: Any, campaign_id: str) -> dict[str, Any]:
    """`GET /campaigns/{id}/report` itself, its 404 shown as a page."""
    from api.routes.campaigns import report_of

    try:
        return report_of(agent, settings, campaign_id)
    except HTTPException as exc:
        raise PageError(exc.status_code, str(exc.detail)) from exc


@router.get("/campaigns")
def campaigns_page(request: Request, ui: ReviewerPage, settings: SettingsDep, engine: EngineDep) -> HTMLResponse:
    from db import campaigns as lifecycle

    with Session(engine) as db:
        campaigns = lifecycle.recent(db, merchant_id=settings.default_merchant_id)
    return render(request, "campaigns.html", ui=ui, campaigns=campaigns)


@router.get("/campaigns/{campaign_id}")
def campaign_page(request: Request, campaign_id: str, ui: ReviewerPage, agent: AgentDep,
                  settings: SettingsDep, engine: EngineDep) -> HTMLResponse:
    """The campaign's plan, counts and report: the figures of `GET /campaigns/{id}/report` and its plot."""
    from db import campaigns as lifecycle
    from db.tables import Campaign

    report = _campaign_report(agent, settings, campaign_id)
    with Session(engine) as db:
        campaign = db.get(Campaign, campaign_id)
        counts = lifecycle.campaign_counts(db, campaign_id)
    return render(request, "campaign.html", ui=ui, campaign=campaign, counts=counts, report=report)


@router.get("/campaigns/{campaign_id}/report.png")
def campaign_plot(campaign_id: str, ui: ReviewerPage, agent: AgentDep, settings: SettingsDep) -> Response:
    """`GET /campaigns/{id}/report.png` for the page's session (an <img> sends the cookie, not the API key)."""
    from profiles.campaign_report import render_png

    png = render_png(_campaign_report(agent, settings, campaign_id))
    return Response(png, media_type="image/png", headers={"cache-control": "no-store"})


# ------------------------------------------------------------------------------ the associate


GuestPage = Annotated[UiSession, Depends(page_session(*GUEST_ROLES))]
GuestAction = Annotated[UiSession, Depends(action_session(*GUEST_ROLES))]


def _guest_page(request: Request, ui: UiSession, pos_id: str, settings: Settings, engine: Engine, agent: OfferAgent,
                *, question: str | None = None, answer: Any = None, error: str | None = None,
                status_code: int = 200) -> HTMLResponse:
    """The summary is `GET /customers/{id}` itself: POS id only, and no pseudonym for associates."""
    from api.routes.customers import read_customer

    guest = None
    if pos_id and error is None:
        try:
            with Session(engine) as db:
                guest = read_customer(pos_id, ui.key, settings, db, agent)
        except HTTPException as exc:
            error, status_code = offer_view.error_text(exc.detail), exc.status_code
    return render(request, "guest.html", status_code, ui=ui, pos_id=pos_id, guest=guest, question=question,
                  answer=answer, error=error)


@router.get("/guest")
def guest_page(request: Request, ui: GuestPage, settings: SettingsDep, engine: EngineDep, agent: AgentDep,
               pos_id: Annotated[str, Query(max_length=128)] = "") -> HTMLResponse:
    """Look the guest at the till up by POS id: the safe summary (no contact details) and a question box."""
    return _guest_page(request, ui, pos_id.strip(), settings, engine, agent)


@router.post("/guest/ask")
async def guest_ask(request: Request, ui: GuestAction, settings: SettingsDep, engine: EngineDep, agent: AgentDep,
                    ask_agent: AskAgentDep) -> HTMLResponse:
    """The associate's question, answered by `POST /customers/{id}/ask` itself (limits, errors, audit)."""
    from api.routes.ask import AskIn, ask_about_customer

    form = await request.form()
    pos_id = str(form.get("pos_id") or "").strip()[:128]
    question = str(form.get("question") or "")
    try:
        body = AskIn(question=question)
        answer = await ask_about_customer(pos_id, body, ui.key, settings, ask_agent, request,
                                          Response())
    except ValidationError as exc:
        return await run_in_threadpool(_guest_page, request, ui, pos_id, settings, engine, agent, question=question,
                                       error=offer_view.error_text(validation_detail(exc)),
                                       status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    except HTTPException as exc:
        return await run_in_threadpool(_guest_page, request, ui, pos_id, settings, engine, agent, question=question,
                                       error=offer_view.error_text(exc.detail), status_code=exc.status_code)
    return await run_in_threadpool(_guest_page, request, ui, pos_id, settings, engine, agent, question=question,
                                   answer=answer)


# ---------------------------------------------------------------------------------- wiring


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "") or request.url.path.endswith("/check")


def register(app: FastAPI) -> None:
    """Mount the pages, their static files and their error pages on `app`."""
    app.state.ui_signer = SessionSigner(app.state.settings.resolved_ui_session_secret())
    app.mount("/ui/static", StaticFiles(directory=API_DIR / "static"), name="ui_static")

    async def _login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return RedirectResponse(f"/ui/login?next={quote(exc.next_path, safe='/')}", status.HTTP_303_SEE_OTHER)

    async def _page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        if _wants_json(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        titles = {401: "Please log in", 403: "Not allowed", 404: "Not found"}
        return render(request, "error.html", exc.status_code, ui=read_session(request), status_code=exc.status_code,
                      title=titles.get(exc.status_code, "Error"), message=str(exc.detail))

    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(PageError, _page_error)
    app.include_router(router)


def pretty(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True, default=str, ensure_ascii=False)


def yes_no(value: Any) -> str:
    return "yes" if value else "no"


TEMPLATES.globals.update(pretty=pretty, yes_no=yes_no)
