"""The campaign report from real sales recorded through the sale path: visits and redemptions counted per arm
inside the window only, the uplift's interval, the power and SRM checks; the JSON and PNG over HTTP."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, col, select

from api.main import create_app
from core.events import SaleChecks, SaleCompleted
from db import campaigns as lifecycle
from db import offers
from db.clock import advance_test_clock
from db.crud import create_api_key
from db.engine import session_scope
from db.ingest import record_sale
from db.tables import Campaign, CatalogItem, Customer, PromoCode
from profiles.campaign_report import campaign_report
from tests.integration.campaign_world import CLOCK, MERCHANT, World, make_world
from tests.integration.conftest import ServerThread


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> World:
    return make_world(database_url, tmp_path)


def _sale(world: World, customer_id: int, number: int, *, days: float, code: PromoCode | None = None) -> None:
    with session_scope(world.engine) as s:
        customer = s.get(Customer, customer_id)
        sku = code.sku if code is not None and code.sku else "GRILLED-SALMON"
        item = s.exec(select(CatalogItem).where(col(CatalogItem.sku) == sku)).first() or s.exec(
            select(CatalogItem)).first()
        assert customer is not None and item is not None
        off = round(item.price_cents * (code.discount_pct or 0) / 100) if code is not None else 0
        sale = SaleCompleted.model_validate({
            "event": "sale.completed", "event_id": f"evt_report_{number}",
            "created_at": (CLOCK + timedelta(days=days)).isoformat(),
            "data": {"id": f"txn_report_{number}", "location_id": "loc_1", "customer_id": customer.pos_customer_id,
                     "line_items": [{"sku": item.sku, "name": item.name, "quantity": 1,
                                     "price": item.price_cents / 100}],
                     "discounts": [{"code": code.code, "amount": {"amount": off, "currency": "USD"}}] if code else [],
                     "total_money": {"amount": item.price_cents - off, "currency": "USD"}},
        })
        record_sale(s, sale=sale, event_id=sale.event_id, pseudonym_secret="test-pseudonyms", checks=SaleChecks())


def test_report_counts_what_happened_in_the_window(world: World, tmp_path: Path) -> None:
    campaign = world.approve(world.create("next_visit", {"days_before": 7}, holdout_pct=30, window_days=10))
    world.run_due()
    recipients = world.recipients(campaign.id)
    sent = [o for o in world.offers(campaign.id) if o.status == offers.SENT]
    codes = {c.offer_id: c for c in world.promo_codes([o.id for o in sent])}
    redeemers = [o for o in sent if o.id in codes][:3]
    assert len(redeemers) == 3
    holdout = [r.customer_id for r in recipients if r.arm == lifecycle.HOLDOUT]
    for number, offer in enumerate(redeemers):
        _sale(world, offer.customer_id, number, days=2 + number, code=codes[offer.id])
    _sale(world, holdout[0], 10, days=4)
    _sale(world, holdout[0], 11, days=5)  # a second visit of the same guest
    _sale(world, holdout[1], 12, days=11)  # after the 10-day window
    _sale(world, redeemers[0].customer_id, 13, days=-0.2)  # before the campaign started
    with Session(world.engine) as s:
        stored = s.get(Campaign, campaign.id)
        assert stored is not None
        report = campaign_report(s, stored, as_of=CLOCK + timedelta(days=30), min_detectable_effect=0.05)
    t, h = report["groups"]["treatment"], report["groups"]["holdout"]
    assert t["n"] == sum(r.arm == lifecycle.TREATMENT for r in recipients) and h["n"] == len(holdout)
    assert (t["redeemed"], t["visitors"], t["visits"]) == (3, 3, 3)
    assert (h["redeemed"], h["visitors"], h["visits"]) == (0, 1, 2)
    assert t["offers_sent"] == len(sent) and h["offers_sent"] == 0
    assert h["revenue_cents"] > 0 and h["revenue_per_guest_cents"] == round(h["revenue_cents"] / h["n"])
    visit = report["uplift"]["visit_rate"]
    assert visit["absolute"] == pytest.approx(3 / t["n"] - 1 / h["n"])
    assert visit["ci95"][0] < visit["absolute"] < visit["ci95"][1] and visit["method"] == "newcomb"
    assert report["uplift"]["redemption_rate"]["absolute"] == pytest.approx(3 / t["n"])
    assert report["window"]["complete"] and report["window"]["days"] == 10
    assert report["power"]["underpowered"]  # a few dozen guests cannot show a 5-point uplift
    assert not report["srm"]["mismatch"]
    assert report["series"]["day"] == list(range(1, 11))
    assert report["series"]["treatment"]["redemption_rate"][-1] == pytest.approx(3 / t["n"])
    assert report["series"]["holdout"]["visit_rate"][3] == 0 and report["series"]["holdout"]["visit_rate"][4] > 0

    with session_scope(world.engine) as s:
        key = {"Authorization": f"Bearer {create_api_key(s, role='marketer')[1]}"}
        # The API reports as of the merchant's clock: move the sandbox's test clock past the window.
        assert advance_test_clock(s, MERCHANT, was=CLOCK, to=CLOCK + timedelta(days=12))
    with ServerThread(create_app(world.settings)) as server, httpx.Client(base_url=server.url, timeout=60) as c:
        served = c.get(f"/campaigns/{campaign.id}/report", headers=key)
        assert served.status_code == 200 and served.json()["groups"]["treatment"]["redeemed"] == 3
        png = c.get(f"/campaigns/{campaign.id}/report.png", headers=key)
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert png.content.startswith(b"\x89PNG\r\n\x1a\n") and len(png.content) > 5000
        assert c.get(f"/campaigns/{campaign.id}/report.png").status_code == 401
