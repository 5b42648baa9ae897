"""The review workspace in a real browser: Debian's headless Chromium driven by Playwright.

Journey: a marketer logs in, edits an escalated offer's SMS and watches the live check; a manager
logs in and accepts; the offer executes once and its audit trail shows both people. An associate
looks a guest up and asks about allergies. Copy with markup is shown, never run. Screenshots go to
artifacts/ui-browser/ (CI keeps them); any console error or uncaught page error fails the test.

Chromium comes from Debian (`.ci/run` installs it); without it the test fails in CI and skips
elsewhere, saying why.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from db.engine import make_engine, migrate, session_scope
from db.tables import AuditEvent, Customer, Offer, OutboundMessage, PromoCode
from tests.integration.review_world import ReviewWorld, review_world

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "ui-browser"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    reason = None if path else "Debian's chromium is not installed (.ci/run installs it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "the playwright package is not installed (pip install -e '.[dev]')"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    assert path is not None
    return path


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    with sync_playwright() as p:
        # A fresh profile every run (Playwright makes a temporary user-data-dir for a plain launch).
        instance = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ReviewWorld]:
    url = f"sqlite:///{tmp_path / 'browser.db'}"
    migrate(url)
    engine: Engine = make_engine(url)
    with review_world(url, engine, tmp_path, sales=10, min_pending=2) as w:
        yield w
    engine.dispose()


class Watched:
    """A browser context of one person, with every console error and page error recorded."""

    def __init__(self, browser: Any, who: str, problems: list[str]) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.on("console", lambda m: problems.append(f"{who} console {m.type}: {m.text}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: problems.append(f"{who} page error: {e}"))
        def _dialog(dialog: Any) -> None:  # an alert() from copy would mean markup ran
            problems.append(f"{who} dialog opened: {dialog.message}")
            dialog.dismiss()

        self.page.on("dialog", _dialog)

    def login(self, w: ReviewWorld, role: str, path: str) -> Any:
        page = self.page
        page.goto(w.url + path)
        assert "/ui/login" in page.url  # sent to log in first
        page.fill("#api_key", w.keys[role])
        page.click("form[action='/ui/login'] button[type=submit]")
        page.wait_for_url(f"**{path}")
        return page


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_marketer_edits_manager_accepts_associate_asks(browser: Any, world: ReviewWorld) -> None:
    from playwright.sync_api import expect

    w = world
    problems: list[str] = []
    offer_id = w.pending[0]

    # -- the marketer ---------------------------------------------------------------------------
    marketer = Watched(browser, "marketer", problems)
    page = marketer.login(w, "marketer", "/ui/review")
    expect(page.get_by_test_id("queue")).to_contain_text(offer_id)
    _shot(page, "01-marketer-queue")
    page.click(f"a[href='/ui/offers/{offer_id}']")
    page.wait_for_url(f"**/ui/offers/{offer_id}")
    expect(page.get_by_test_id("check-state")).to_contain_text("verdict")
    expect(page.locator("#discount_pct, #bonus_points, #discount_cents")).to_have_count(0)  # terms are a manager's
    expect(page.get_by_test_id("btn-accept")).to_have_count(0)
    sms = page.locator("#sms_text")
    original = sms.input_value()

    sms.fill("Hi {first_name}! We saved your favourite for you: show code {promo_code} next visit.")
    expect(page.get_by_test_id("sms-optout")).to_contain_text("missing")
    expect(page.get_by_test_id("copy-findings")).to_contain_text("opt-out")
    expect(page.get_by_test_id("check-state")).to_contain_text("block")
    _shot(page, "02-marketer-live-check-missing-opt-out")

    sms.fill("Hi {first_name}! " + "Your table by the window is waiting for you this week. " * 3
             + "Code {promo_code}. Reply STOP to opt out")
    expect(page.get_by_test_id("sms-segments")).to_have_text("2")
    expect(page.get_by_test_id("copy-findings")).to_contain_text("characters")

    edited = "Hi {first_name}! A little thank-you for your visits: code {promo_code}. Reply STOP to opt out"
    sms.fill(edited)
    expect(page.get_by_test_id("sms-optout")).to_have_text("present")
    expect(page.get_by_test_id("sms-segments")).to_have_text("1")
    expect(page.get_by_test_id("copy-findings")).to_have_text("copy is compliant")
    length = page.get_by_test_id("sms-length").inner_text()
    assert "/ 160 GSM-7" in length and "name filled to 12" in length
    _shot(page, "03-marketer-live-check-ok")
    page.get_by_test_id("btn-edit").click()
    page.wait_for_url(f"**/ui/offers/{offer_id}?done=edit")
    expect(page.get_by_test_id("status")).to_have_text("pending_review")
    expect(page.get_by_test_id("done")).to_contain_text("waits for a manager")
    _shot(page, "04-marketer-edit-saved")
    with Session(w.engine) as s:
        assert s.exec(select(func.count()).select_from(OutboundMessage)
                      .where(col(OutboundMessage.offer_id) == offer_id)).one() == 0  # a marketer never executes

    # -- the manager ----------------------------------------------------------------------------
    manager = Watched(browser, "manager", problems)
    page = manager.login(w, "manager", f"/ui/offers/{offer_id}")
    expect(page.locator("#sms_text")).to_have_value(edited)
    audit = page.get_by_test_id("audit")
    expect(audit).to_contain_text("Marketer Tester (marketer)")
    expect(audit).to_contain_text(original)  # the edit's before value ...
    expect(audit).to_contain_text(edited)  # ... and its after value
    page.get_by_test_id("btn-accept").click()
    page.wait_for_url(f"**/ui/offers/{offer_id}?done=accept")
    expect(page.get_by_test_id("status")).to_have_text("sent")
    expect(page.get_by_test_id("audit")).to_contain_text("Manager Tester (manager)")
    expect(page.get_by_test_id("audit")).to_contain_text("Marketer Tester (marketer)")
    _shot(page, "05-manager-accepted")

    with Session(w.engine) as s:
        offer = s.get(Offer, offer_id)
        assert offer is not None and offer.status == "sent"
        assert offer.decided_by == f"reviewer:{w.key_ids['manager']}"
        messages = s.exec(select(OutboundMessage).where(col(OutboundMessage.offer_id) == offer_id)).all()
        assert len(messages) == 1 and messages[0].body == edited  # executed once, with the edited copy
        promos = s.exec(select(func.count()).select_from(PromoCode).where(col(PromoCode.offer_id) == offer_id)).one()
        assert promos == (0 if offer.offer_type == "bonus_points" else 1)
        actors = {a.actor for a in s.exec(select(AuditEvent).where(col(AuditEvent.offer_id) == offer_id)).all()}
        assert {f"reviewer:{w.key_ids['marketer']}", f"reviewer:{w.key_ids['manager']}"} <= actors

    # -- copy with markup is shown, not run -------------------------------------------------------
    other = w.pending[1]
    with session_scope(w.engine) as s:
        row = s.get(Offer, other)
        assert row is not None
        row.sms_text = ("Hi {first_name} <script>alert('pwned')</script><img src=x onerror=alert(2)> "
                        "Reply STOP to opt out")
        row.rationale = "<b onmouseover=alert(3)>bold claim</b>"
        s.add(row)
    page.goto(f"{w.url}/ui/offers/{other}")
    expect(page.locator("#sms_text")).to_have_value(row.sms_text)
    expect(page.locator(".rationale")).to_have_text(row.rationale)
    expect(page.get_by_test_id("copy-findings")).to_contain_text("markup")
    assert page.locator("img[src=x]").count() == 0 and page.locator(".rationale b").count() == 0
    _shot(page, "06-markup-shown-as-text")

    # -- the associate ----------------------------------------------------------------------------
    with Session(w.engine) as s:
        offer = s.get(Offer, offer_id)
        guest = s.get(Customer, offer.customer_id) if offer else None
        assert guest is not None
        pos_id, allergies = guest.pos_customer_id, guest.allergies
    associate = Watched(browser, "associate", problems)
    page = associate.login(w, "associate", "/ui/guest")
    page.fill("#pos_id", pos_id)
    page.click("form[action='/ui/guest'] button[type=submit]")
    expect(page.get_by_test_id("guest")).to_contain_text(pos_id)
    expect(page.get_by_test_id("guest")).not_to_contain_text(guest.pseudonym)  # associates never see it
    page.fill("#question", "Does this guest have any allergies?")
    page.get_by_test_id("btn-ask").click()
    answer = page.get_by_test_id("answer")
    expect(answer).to_contain_text("allerg", ignore_case=True)
    for allergen in allergies or []:
        expect(answer).to_contain_text(allergen.replace("_", " "), ignore_case=True)
    if allergies is None:
        expect(answer).to_contain_text("unknown", ignore_case=True)
    expect(page.get_by_test_id("citations")).to_contain_text("profile")
    _shot(page, "07-associate-asks-about-allergies")

    for person in (marketer, manager, associate):
        person.context.close()
    assert not problems, "\n".join(problems)


def test_campaign_page_shows_the_report_and_its_plot(browser: Any, world: ReviewWorld) -> None:
    """A marketer's campaign, shown as being planned until the worker planned it, approved by a manager and
    run: its page shows the report's figures and the plot loads (an image the browser decoded); an associate
    may see neither."""
    from playwright.sync_api import expect

    from agent.campaigns import service
    from agent.campaigns.run import CampaignRunner
    from agent.runner import get_agent

    w = world
    body = {"name": "Win back our regulars", "kind": "win_back", "holdout_pct": 50,
            "audience": {"rule": {"churn_risk_min": 0.0}}}
    with w.client("marketer") as c:
        created = c.post("/campaigns", json=body)
    assert created.status_code == 202, created.text
    campaign_id = created.json()["id"]

    problems: list[str] = []
    marketer = Watched(browser, "marketer", problems)
    page = marketer.login(w, "marketer", "/ui/campaigns")
    expect(page.get_by_test_id("campaigns")).to_contain_text("plan being computed")
    page.click(f"a[href='/ui/campaigns/{campaign_id}']")
    page.wait_for_url(f"**/ui/campaigns/{campaign_id}")
    expect(page.get_by_test_id("campaign-status")).to_have_text("planning")
    expect(page.get_by_test_id("campaign-plan-pending")).to_contain_text("Plan being computed")

    settings = w.app.state.settings
    agent = get_agent(settings, w.engine)
    [planned] = service.plan_pending(agent.ctx, merchant_id=settings.default_merchant_id)  # the worker's part
    assert planned.id == campaign_id and planned.status == "pending_approval"
    page.reload()
    expect(page.get_by_test_id("campaign-plan")).to_contain_text(f"Audience {planned.estimate['audience_size']}")
    with w.client("manager") as c:
        assert c.post(f"/campaigns/{campaign_id}/approve").status_code == 200
    runner = CampaignRunner(agent)
    assert runner.run_due(settings.default_merchant_id, automatic=False).campaigns == [campaign_id]
    with w.client("manager") as c:
        report = c.get(f"/campaigns/{campaign_id}/report").json()
    treatment = report["groups"]["treatment"]["n"]
    assert treatment > 0 and report["groups"]["holdout"]["n"] > 0

    page.goto(w.url + "/ui/campaigns")
    page.click(f"a[href='/ui/campaigns/{campaign_id}']")
    page.wait_for_url(f"**/ui/campaigns/{campaign_id}")
    expect(page.get_by_test_id("campaign-status")).to_have_text("completed")
    expect(page.get_by_test_id("campaign-report").locator("tbody tr").first).to_contain_text(str(treatment))
    expect(page.get_by_test_id("campaign-uplift")).to_contain_text("95 % Newcombe interval")
    plot = page.get_by_test_id("campaign-plot")
    plot.scroll_into_view_if_needed()
    page.wait_for_function("el => el.complete", arg=plot.element_handle())
    assert plot.evaluate("el => el.naturalWidth") > 0
    assert plot.evaluate("el => el.naturalHeight") > 0
    _shot(page, "08-marketer-campaign-report")
    marketer.context.close()
    assert not problems, "\n".join(problems)

    associate = Watched(browser, "associate", [])  # its 403s are the point, not a problem
    page = associate.login(w, "associate", "/ui/guest")
    for path in (f"/ui/campaigns/{campaign_id}", f"/ui/campaigns/{campaign_id}/report.png"):
        assert page.goto(w.url + path).status == 403
    with w.client() as anonymous:  # no session: sent to log in, no image
        r = anonymous.get(f"/ui/campaigns/{campaign_id}/report.png", follow_redirects=False)
    assert r.status_code == 303 and "/ui/login" in r.headers["location"]
    associate.context.close()
