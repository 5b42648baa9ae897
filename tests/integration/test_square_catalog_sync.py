"""`loyalty-agent square sync-catalog`: the seller's locations and catalog from the faithful fake Square
server (ListLocations, ListCatalog with paging) into a real database, SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from core.allergens import TOP9_ALLERGENS
from core.settings import get_settings
from db.engine import session_scope
from db.tables import CatalogItem, InboxEvent, Location, Merchant, TransactionLine
from loyalty_agent.cli import app as cli
from loyalty_agent.worker import process_event
from tests.integration.conftest import make_settings
from tests.integration.fake_square import TOKEN, FakeSquare, payment_event, serve, square_order
from tools.errors import ToolUnavailable
from tools.pos.square import SquarePos
from tools.pos.square_catalog import sync_square_catalog

MERCHANT = "m_square"


def _menu(fake: FakeSquare) -> None:
    fake.locations = [
        {"id": "LOC_A", "name": "Harbor", "timezone": "America/Chicago", "status": "ACTIVE", "currency": "USD",
         "business_name": "Harbor & Vine", "merchant_id": "ML_FAKE", "country": "US"},
        {"id": "LOC_B", "name": "Campus", "timezone": "America/New_York", "status": "ACTIVE", "currency": "USD",
         "business_name": "Harbor & Vine", "merchant_id": "ML_FAKE", "country": "US"},
    ]
    fake.add_category("CAT_MAINS", "Mains")
    fake.add_category("CAT_DRINKS", "Drinks")
    fake.add_category("CAT_WINE", "Wine")
    fake.catalog["CAT_WINE"]["category_data"]["parent_category"] = {"id": "CAT_DRINKS", "ordinal": 0}
    fake.add_item("IT_BURGER", "Burger", category_id="CAT_MAINS",
                  variations=[("VAR_BURGER_1", "Single", 1500), ("VAR_BURGER_2", "Double", 1900)],
                  ingredients=["MILK", "GLUTEN"], description="Brioche bun")
    fake.add_item("IT_RIBEYE", "Ribeye", category_id="CAT_MAINS", variations=[("VAR_RIBEYE", "Regular", 3800)])
    fake.add_item("IT_MALBEC", "Malbec", category_id="CAT_WINE", variations=[("VAR_MALBEC", "Glass", 1400)],
                  alcoholic=True, ingredients=["SULPHITES"])
    fake.add_item("IT_FISH", "Market fish", category_id="CAT_MAINS", variations=[("VAR_FISH", "Regular", None)],
                  ingredients=["FISH"])
    fake.add_item("IT_OLD", "Winter stew", category_id=None, variations=[("VAR_STEW", "Regular", 1600)],
                  ingredients=["CELERY"])
    fake.catalog["IT_OLD"]["item_data"]["is_archived"] = True


@pytest.fixture
def square(engine: Engine) -> Iterator[tuple[FakeSquare, SquarePos]]:
    fake = FakeSquare()
    fake.page_size = 3  # several pages
    _menu(fake)
    with serve(fake) as url:
        yield fake, SquarePos(access_token=TOKEN, base_url=url, retry_attempts=2, retry_base_delay_s=0.01,
                              retry_max_delay_s=0.02)


def _catalog(engine: Engine) -> dict[str, CatalogItem]:
    with Session(engine) as s:
        return {i.sku: i for i in s.exec(select(CatalogItem).where(col(CatalogItem.merchant_id) == MERCHANT))}


def test_sync_maps_square_catalog_keeps_what_square_does_not_know(
        engine: Engine, square: tuple[FakeSquare, SquarePos]) -> None:
    fake, pos = square
    with session_scope(engine) as s:  # a second sync of a seller whose ribeye cost and allergens we curated
        s.add(Merchant(id=MERCHANT, name="Harbor & Vine"))
        s.flush()
        s.add(CatalogItem(merchant_id=MERCHANT, sku="VAR_RIBEYE", name="Rib", category="mains", price_cents=3600,
                          unit_cost_cents=1400, allergens=["milk"]))
        s.add(CatalogItem(merchant_id=MERCHANT, sku="VAR_GONE", name="Gone", category="mains", price_cents=900,
                          unit_cost_cents=300, allergens=[]))
    report = sync_square_catalog(engine, pos, merchant_id=MERCHANT, unknown_allergens=TOP9_ALLERGENS)
    assert fake.count("GET /v2/catalog/list") > 1  # followed the cursor

    with Session(engine) as s:
        locations = {loc.id: loc for loc in s.exec(select(Location))}
    assert {k: (v.name, v.timezone, v.merchant_id) for k, v in locations.items()} == {
        "LOC_A": ("Harbor", "America/Chicago", MERCHANT), "LOC_B": ("Campus", "America/New_York", MERCHANT)}
    items = _catalog(engine)
    assert set(items) == {"VAR_BURGER_1", "VAR_BURGER_2", "VAR_RIBEYE", "VAR_MALBEC", "VAR_FISH", "VAR_STEW",
                          "VAR_GONE"}
    burger = items["VAR_BURGER_2"]
    assert (burger.name, burger.category, burger.subcategory, burger.price_cents) == ("Burger (Double)", "mains",
                                                                                      None, 1900)
    assert burger.allergens == ["gluten", "milk"] and burger.description == "Brioche bun" and burger.active
    assert burger.unit_cost_cents == burger.price_cents  # no cost from Square: zero margin, no discount passes
    ribeye = items["VAR_RIBEYE"]
    assert (ribeye.name, ribeye.price_cents, ribeye.unit_cost_cents) == ("Ribeye", 3800, 1400)  # cost kept
    assert ribeye.allergens == ["milk"]  # Square lists no ingredients: our curated allergens stay
    malbec = items["VAR_MALBEC"]
    assert (malbec.category, malbec.subcategory, malbec.contains_alcohol) == ("drinks", "wine", True)
    assert not items["VAR_FISH"].active  # variable price: nothing to discount from
    assert not items["VAR_STEW"].active and items["VAR_STEW"].category == "uncategorized"  # archived
    assert not items["VAR_GONE"].active  # no longer on Square's menu: kept for history, inactive
    result = report.catalog
    assert (result.created, result.updated, result.deactivated) == (5, 1, 1)
    assert sorted(result.unknown_cost) == ["VAR_BURGER_1", "VAR_BURGER_2", "VAR_MALBEC"]
    assert result.unknown_allergens == []  # every new item had Square ingredients

    again = sync_square_catalog(engine, pos, merchant_id=MERCHANT, unknown_allergens=TOP9_ALLERGENS).catalog
    assert (again.created, again.updated, again.deactivated, again.unchanged) == (0, 0, 0, 6)


def test_new_item_without_ingredients_may_contain_every_major_allergen(
        engine: Engine, square: tuple[FakeSquare, SquarePos]) -> None:
    _fake, pos = square
    report = sync_square_catalog(engine, pos, merchant_id=MERCHANT, unknown_allergens=TOP9_ALLERGENS)
    assert report.catalog.unknown_allergens == ["VAR_RIBEYE"]
    assert _catalog(engine)["VAR_RIBEYE"].allergens == sorted(TOP9_ALLERGENS)
    with Session(engine) as s:
        merchant = s.get(Merchant, MERCHANT)
    assert merchant is not None and (merchant.name, merchant.currency) == ("Harbor & Vine", "USD")


def test_square_down_mid_listing_writes_nothing(engine: Engine, square: tuple[FakeSquare, SquarePos]) -> None:
    fake, pos = square
    original = fake.handle
    pages = 0

    def second_page_fails(method: str, target: str, headers: dict[str, str], body: bytes) -> Any:
        nonlocal pages
        if target.startswith("/v2/catalog/list"):
            pages += 1
            if pages >= 2:
                fake.fail_before["GET /v2/catalog/list"] = 99
        return original(method, target, headers, body)

    fake.handle = second_page_fails  # type: ignore[method-assign]
    with pytest.raises(ToolUnavailable):
        sync_square_catalog(engine, pos, merchant_id=MERCHANT, unknown_allergens=TOP9_ALLERGENS)
    with Session(engine) as s:
        assert s.get(Merchant, MERCHANT) is None and not list(s.exec(select(Location)))
    assert not _catalog(engine)


def test_cli_sync_then_square_orders_name_the_synced_items(database_url: str, engine: Engine, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSquare()
    _menu(fake)
    with serve(fake) as url:
        for name, value in {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path), "SQUARE_ACCESS_TOKEN": TOKEN,
                            "SQUARE_BASE_URL": url, "DEFAULT_MERCHANT_ID": MERCHANT}.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        try:
            run = CliRunner().invoke(cli, ["square", "sync-catalog"])
        finally:
            get_settings.cache_clear()
        assert run.exit_code == 0, run.output
        summary = json.loads(run.stdout[: run.stdout.rindex("}") + 1])
        assert (summary["locations"], summary["items_created"]) == (2, 6)
        assert "VAR_RIBEYE" in summary["no_known_cost"] and summary["allergens_unknown"] == ["VAR_RIBEYE"]

        # A Square sale at a synced location: its lines are the synced catalog's skus.
        settings = make_settings(database_url, tmp_path, square_access_token=TOKEN, square_base_url=url,
                                 default_merchant_id=MERCHANT)
        fake.orders["ORD_S"] = order = square_order(
            "ORD_S", location_id="LOC_A", customer_id="CUST_1", closed_at=datetime.now(UTC),
            lines=[("VAR_BURGER_2", "Burger", 1, 1900), ("VAR_MALBEC", "Malbec", 2, 1400)])
        payload = payment_event("payment.updated", "sq_evt_sync", order)
        event = InboxEvent(id="ev_sync", provider="square", provider_event_id="sq_evt_sync",
                           event_type="payment.updated", payload=payload, merchant_id=MERCHANT)
        assert process_event(engine, settings, event) == "no_offer"
    with Session(engine) as s:
        skus = set(s.exec(select(TransactionLine.sku)))
    assert skus == {"VAR_BURGER_2", "VAR_MALBEC"} and skus <= set(_catalog(engine))

    fake_down = FakeSquare()
    with serve(fake_down) as url:
        monkeypatch.setenv("SQUARE_BASE_URL", url)
        monkeypatch.setenv("SQUARE_ACCESS_TOKEN", "wrong-token")
        get_settings.cache_clear()
        try:
            refused = CliRunner().invoke(cli, ["square", "sync-catalog"])
        finally:
            get_settings.cache_clear()
    assert refused.exit_code == 1 and "nothing written" in refused.output and "401" in refused.output
