"""`sample_sales`: realistic live `sale.completed` events from a seeded database (`loyalty-agent replay`)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from db.tables import CatalogItem, Customer, Location, PosTransaction, TransactionLine
from sandbox.restaurant import CURRENCY, MERCHANT_ID, age_years, short_hash
from sandbox.writer import table_of


@dataclass(frozen=True, slots=True)
class _CatalogRow:
    sku: str
    name: str
    category: str
    price_cents: int
    allergens: frozenset[str]
    contains_alcohol: bool


def _execute(source: Engine | Session | Connection, stmt: Any) -> list[Any]:
    if isinstance(source, Engine):
        with source.connect() as conn:
            return list(conn.execute(stmt))
    return list(source.execute(stmt))


def _event_dict(
    *, event_id: str, created_at: datetime, txn_id: str, location_id: str, customer_id: str | None,
    lines: Sequence[tuple[_CatalogRow, int]],
) -> dict[str, Any]:
    total = sum(item.price_cents * qty for item, qty in lines)
    return {
        "event": "sale.completed",
        "event_id": event_id,
        "created_at": created_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "data": {
            "id": txn_id,
            "location_id": location_id,
            "customer_id": customer_id,
            "line_items": [
                {"sku": item.sku, "name": item.name, "quantity": qty, "price": round(item.price_cents / 100, 2)}
                for item, qty in lines
            ],
            "total_money": {"amount": total, "currency": CURRENCY},
        },
    }


def sample_sales(
    source: Engine | Session | Connection,
    *,
    count: int,
    seed: int,
    merchant_id: str = MERCHANT_ID,
    now: datetime | None = None,
    new_customer_share: float = 0.05,
) -> list[dict[str, Any]]:
    """Realistic `sale.completed` events (the architecture's generic contract) for replay.

    Known customers re-order in their own pattern: each event starts from one of the
    customer's past tickets in the database (so the salmon regular orders salmon again),
    lightly varied, re-priced from the current catalog, with alcohol dropped for anyone
    under 21 today and at locations that forbid it. `new_customer_share` of events come
    from unknown new guests (`cust_new_...`), which the worker must create with unknown
    allergies. Ids are deterministic per `seed` (`evt_...`, `txn_live_...`, never colliding
    with the seeded `txn_<hex>` ids), so the same seed replays the same events: use a new
    seed for fresh ones. `created_at` is `now` (default: the clock) minus one second per
    remaining event, i.e. live-looking timestamps.
    """
    if count <= 0:
        return []
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    rng = random.Random(f"harbor-vine:replay:{seed}")
    cat_t, loc_t, cust_t = table_of(CatalogItem), table_of(Location), table_of(Customer)
    txn_t, line_t = table_of(PosTransaction), table_of(TransactionLine)

    catalog = {
        r.sku: _CatalogRow(r.sku, r.name, r.category, r.price_cents, frozenset(r.allergens or ()), r.contains_alcohol)
        for r in _execute(
            source,
            select(cat_t.c.sku, cat_t.c.name, cat_t.c.category, cat_t.c.price_cents, cat_t.c.allergens,
                   cat_t.c.contains_alcohol)
            .where(cat_t.c.merchant_id == merchant_id, cat_t.c.active.is_(True))
            .order_by(cat_t.c.sku),
        )
    }
    if not catalog:
        raise LookupError(f"merchant {merchant_id!r} has no active catalog: seed the sandbox first")
    locations = {
        r.id: r.alcohol_policy == "allowed"
        for r in _execute(
            source,
            select(loc_t.c.id, loc_t.c.alcohol_policy).where(loc_t.c.merchant_id == merchant_id).order_by(loc_t.c.id),
        )
    }
    location_ids = sorted(locations)
    customers = _execute(
        source,
        select(cust_t.c.id, cust_t.c.pos_customer_id, cust_t.c.birthday, cust_t.c.allergies, cust_t.c.home_location_id)
        .where(cust_t.c.merchant_id == merchant_id)
        .order_by(cust_t.c.id),
    )

    picks: list[Any | None] = [
        None if not customers or rng.random() < new_customer_share else rng.choice(customers) for _ in range(count)
    ]
    history = _ticket_history(source, sorted({p.id for p in picks if p is not None}), txn_t, line_t)

    today = now.date()
    by_category: dict[str, list[_CatalogRow]] = {}
    for row in catalog.values():
        by_category.setdefault(row.category, []).append(row)

    events: list[dict[str, Any]] = []
    for k, customer in enumerate(picks):
        token = short_hash(f"replay:{seed}:{k}", 12)
        if customer is None:
            pos_customer_id = "cust_new_" + token[:12]
            location_id = rng.choice(location_ids)
            lines = _generic_lines(rng, by_category, alcohol_ok=locations[location_id], avoid=frozenset())
        else:
            pos_customer_id = customer.pos_customer_id
            tickets = history.get(customer.id, [])
            avoid = frozenset(customer.allergies or ())
            minor = customer.birthday is not None and age_years(customer.birthday, today) < 21
            if tickets:
                location_id, template = rng.choice(tickets)
            else:
                location_id, template = customer.home_location_id or location_ids[0], []
            location_id = location_id if location_id in locations else location_ids[0]
            alcohol_ok = locations[location_id] and not minor
            lines = _vary_ticket(rng, template, catalog, by_category, alcohol_ok=alcohol_ok, avoid=avoid)
        events.append(
            _event_dict(
                event_id="evt_" + token,
                created_at=now - timedelta(seconds=count - 1 - k),
                txn_id="txn_live_" + short_hash(f"replay-txn:{seed}:{k}"),
                location_id=location_id,
                customer_id=pos_customer_id,
                lines=lines,
            )
        )
    return events


def _ticket_history(
    source: Engine | Session | Connection, customer_ids: list[int], txn_t: Any, line_t: Any
) -> dict[int, list[tuple[str, list[tuple[str, int]]]]]:
    """Past tickets (location, [(sku, qty)]) per customer id, oldest first."""
    tickets: dict[int, dict[int, tuple[str, list[tuple[str, int]]]]] = {}
    for offset in range(0, len(customer_ids), 500):
        ids = customer_ids[offset : offset + 500]
        rows = _execute(
            source,
            select(txn_t.c.customer_id, txn_t.c.id, txn_t.c.location_id, line_t.c.sku, line_t.c.quantity)
            .join(line_t, line_t.c.transaction_id == txn_t.c.id)
            .where(txn_t.c.customer_id.in_(ids))
            .order_by(txn_t.c.customer_id, txn_t.c.occurred_at, txn_t.c.id, line_t.c.id),
        )
        for row in rows:
            per_customer = tickets.setdefault(row.customer_id, {})
            per_customer.setdefault(row.id, (row.location_id, []))[1].append((row.sku, row.quantity))
    return {cid: list(per.values()) for cid, per in tickets.items()}


def _allowed(item: _CatalogRow, *, alcohol_ok: bool, avoid: frozenset[str]) -> bool:
    return (alcohol_ok or not item.contains_alcohol) and not (avoid & item.allergens)


def _vary_ticket(
    rng: random.Random,
    template: Sequence[tuple[str, int]],
    catalog: dict[str, _CatalogRow],
    by_category: dict[str, list[_CatalogRow]],
    *,
    alcohol_ok: bool,
    avoid: frozenset[str],
) -> list[tuple[_CatalogRow, int]]:
    lines: dict[str, int] = {}
    for sku, qty in template:
        item = catalog.get(sku)
        if item is None or not _allowed(item, alcohol_ok=alcohol_ok, avoid=avoid):
            continue
        if rng.random() < 0.2:  # tonight they try something else from the same section
            options = [i for i in by_category.get(item.category, []) if _allowed(i, alcohol_ok=alcohol_ok, avoid=avoid)]
            item = rng.choice(options) if options else item
        lines[item.sku] = lines.get(item.sku, 0) + qty
    if not lines:
        return _generic_lines(rng, by_category, alcohol_ok=alcohol_ok, avoid=avoid)
    return [(catalog[sku], qty) for sku, qty in lines.items()]


def _generic_lines(
    rng: random.Random, by_category: dict[str, list[_CatalogRow]], *, alcohol_ok: bool, avoid: frozenset[str]
) -> list[tuple[_CatalogRow, int]]:
    """A plausible first-visit ticket: a main each, a drink each, maybe a starter or dessert."""
    party = rng.choice((1, 2, 2, 3, 4))
    lines: dict[str, tuple[_CatalogRow, int]] = {}

    def add(category: str) -> None:
        options = [i for i in by_category.get(category, []) if _allowed(i, alcohol_ok=alcohol_ok, avoid=avoid)]
        if options:
            item = rng.choice(options)
            lines[item.sku] = (item, lines[item.sku][1] + 1 if item.sku in lines else 1)

    if rng.random() < 0.5:
        add("starters")
    for _ in range(party):
        add("mains")
        add("drinks")
    if rng.random() < 0.3:
        add("desserts")
    return list(lines.values())
