"""A sale reconciles with its lines, in the merchant's currency, and is not from the future."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from core.events import MAX_AMOUNT_CENTS, SaleChecks, SaleCompleted, sale_refusal

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CHECKS = SaleChecks()


def sale(lines: list[tuple[int, str]], total: int, *, currency: str = "USD", at: datetime = NOW,
         discounts: list[tuple[str, int, str]] | None = None) -> SaleCompleted:
    """`lines` as (quantity, unit price in major units as text), discounts as (code, cents, currency)."""
    data: dict[str, Any] = {
        "id": "txn_1", "location_id": "loc_1", "customer_id": "cust_1",
        "line_items": [{"sku": f"SKU-{i}", "name": f"Item {i}", "quantity": q, "price": p}
                       for i, (q, p) in enumerate(lines)],
        "total_money": {"amount": total, "currency": currency},
    }
    if discounts:
        data["discounts"] = [{"code": c, "amount": {"amount": a, "currency": cur}} for c, a, cur in discounts]
    return SaleCompleted.model_validate({"event": "sale.completed", "event_id": "evt_1",
                                         "created_at": at.isoformat(), "data": data})


def reasons(s: SaleCompleted, *, currency: str = "USD", now: datetime | None = NOW,
            checks: SaleChecks = CHECKS) -> dict[str, str]:
    return {".".join(p.loc): p.msg for p in sale_refusal(s, currency=currency, now=now, checks=checks)}


def test_a_sale_that_adds_up_is_accepted() -> None:
    assert reasons(sale([(1, "24.00")], 2400)) == {}
    assert reasons(sale([(2, "12.50"), (3, "3.99")], 2500 + 1197)) == {}
    assert reasons(sale([(1, "0")], 0)) == {}


def test_the_poisoned_sale_from_the_report_is_refused_for_all_three_reasons() -> None:
    """Total 99,999,999 cents, lines $3.50, in EUR, dated 2099."""
    poisoned = sale([(1, "3.50")], 99_999_999, currency="EUR", at=datetime(2099, 1, 1, tzinfo=UTC))
    found = reasons(poisoned)
    assert set(found) == {"data.total_money.currency", "created_at", "data.total_money.amount"}
    assert "EUR is not the merchant's currency (USD)" in found["data.total_money.currency"]
    assert "in the future" in found["created_at"]
    assert "lines 350 minus discounts 0 is 350" in found["data.total_money.amount"]


def test_discounts_are_subtracted_and_must_be_in_the_merchants_currency() -> None:
    assert reasons(sale([(1, "17.90")], 1790 - 179, discounts=[("HV-XD8X-NP", 179, "USD")])) == {}
    assert "data.total_money.amount" in reasons(sale([(1, "17.90")], 1790, discounts=[("HV-XD8X-NP", 179, "USD")]))
    found = reasons(sale([(1, "17.90")], 1611, discounts=[("HV-XD8X-NP", 179, "CAD")]))
    assert set(found) == {"data.discounts.0.amount.currency"}
    # A discount larger than the ticket leaves nothing to pay, not a negative total.
    assert reasons(sale([(1, "5.00")], 0, discounts=[("COMP", 900, "USD")])) == {}


def test_tax_and_tips_are_not_part_of_the_total() -> None:
    found = reasons(sale([(1, "24.00")], 2400 + 213 + 480))  # 8.875 % tax and a 20 % tip on top
    assert "excludes tax, tips and service charges" in found["data.total_money.amount"]


@pytest.mark.parametrize(("lines", "expected", "tolerance"), [
    ([(1, "3.50")], 350, 4),  # max(1 line x 1 cent, ceil(1 % of 350))
    ([(1, "0.10"), (1, "0.10"), (1, "0.10")], 30, 3),  # small ticket: a cent per line
    ([(10, "100.00")], 100_000, 1000),  # large ticket: 1 %
])
def test_tolerance_is_the_larger_of_a_cent_per_line_and_one_percent(
        lines: list[tuple[int, str]], expected: int, tolerance: int) -> None:
    for total in (expected - tolerance, expected + tolerance):
        assert reasons(sale(lines, total)) == {}, total
    for total in (expected - tolerance - 1, expected + tolerance + 1):
        assert set(reasons(sale(lines, total))) == {"data.total_money.amount"}, total


def test_tolerance_comes_from_the_settings() -> None:
    strict = SaleChecks(total_tolerance_pct=0, total_tolerance_cents_per_line=0)
    assert set(reasons(sale([(10, "100.00")], 100_001), checks=strict)) == {"data.total_money.amount"}
    assert reasons(sale([(10, "100.00")], 100_000), checks=strict) == {}


def test_a_few_minutes_of_clock_skew_are_fine_not_more() -> None:
    assert reasons(sale([(1, "1.00")], 100, at=NOW + timedelta(seconds=300))) == {}
    assert set(reasons(sale([(1, "1.00")], 100, at=NOW + timedelta(seconds=301)))) == {"created_at"}
    assert reasons(sale([(1, "1.00")], 100, at=NOW + timedelta(seconds=301)),
                   checks=SaleChecks(max_future_s=600)) == {}
    assert reasons(sale([(1, "1.00")], 100, at=NOW - timedelta(days=400))) == {}  # old sales are "late", not bad
    # The worker passes no clock: the webhook already checked it against the one the POS signed with.
    assert reasons(sale([(1, "1.00")], 100, at=datetime(2099, 1, 1, tzinfo=UTC)), now=None) == {}


def test_amounts_fit_their_columns() -> None:
    with pytest.raises(ValidationError):
        sale([(1, "1.00")], MAX_AMOUNT_CENTS + 1)
    with pytest.raises(ValidationError):
        sale([(1, "1.00")], 100, discounts=[("X", 10**19, "USD")])
