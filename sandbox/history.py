"""A guest's whole history (profile, visits, baskets, loyalty balance) and the anonymous walk-ins.

`generate_sandbox` builds the restaurant in memory for tests and evals; `sandbox.writer` streams the same
bundles into a database.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

from core.tiers import tier_for_points
from db.pseudonyms import SANDBOX_PSEUDONYM_SECRET, make_pseudonym
from sandbox.baskets import build_basket, lines_from, menu_pools, party_for
from sandbox.contacts import draw_contact
from sandbox.menu import MENU
from sandbox.personas import draw_profile
from sandbox.restaurant import (
    DEFAULT_END,
    LOCATION_BY_ID,
    MERCHANT_ID,
    MERCHANT_NAME,
    SANDBOX_LOCATIONS,
    SandboxCustomer,
    SandboxData,
    SandboxTransaction,
    history_window,
    local_to_utc,
    pos_customer_id,
    short_hash,
)
from sandbox.visits import BAR, BRUNCH, DINNER, LUNCH, arrival_minute, place_visit, visit_days

_LEDGER_POINTS_PER_DOLLAR = 1


def customer_bundle(
    seed: int, index: int, start: date, end: date
) -> tuple[SandboxCustomer, list[SandboxTransaction]]:
    profile, rng = draw_profile(seed, index, start, end)
    pos_id = pos_customer_id(index)
    end_utc = datetime.combine(end, time(), tzinfo=UTC)
    created_at = datetime.combine(profile.joined, time(9, 0), tzinfo=UTC)
    avoid = frozenset(profile.allergies or ())
    big_spender = profile.persona == "lapsed_vip"

    transactions: list[SandboxTransaction] = []
    for number, day in enumerate(visit_days(rng, profile, start, end)):
        visit = place_visit(rng, profile, day)
        location = LOCATION_BY_ID[visit.location_id]
        occurred_at = local_to_utc(visit.day, visit.minute, rng.randrange(60), location.timezone)
        if occurred_at >= end_utc or occurred_at < created_at:
            continue
        party_size, kids = party_for(rng, profile.persona)
        pools = menu_pools(avoid, location.sells_alcohol and not profile.minor)
        basket = build_basket(
            rng,
            kind=visit.kind,
            party_size=party_size,
            kids=kids,
            pools=pools,
            signature_sku=profile.signature_sku,
            wine_lover=profile.wine_lover,
            dessert_lover=profile.dessert_lover,
            big_spender=big_spender,
        )
        lines, total = lines_from(basket)
        transactions.append(
            SandboxTransaction(
                pos_transaction_id="txn_" + short_hash(f"{seed}:{index}:{number}"),
                location_id=location.id,
                pos_customer_id=pos_id,
                occurred_at=occurred_at,
                party_size=party_size,
                total_cents=total,
                lines=lines,
            )
        )
    transactions.sort(key=lambda t: t.occurred_at)

    spend = sum(t.total_cents for t in transactions)
    earned = spend // 100 * _LEDGER_POINTS_PER_DOLLAR
    # Rewards are redeemed in 250-point steps; some guests hoard, some spend as they go.
    redeemed = 250 * int((earned // 250) * rng.random() * 0.8)
    last_seen = transactions[-1].occurred_at if transactions else created_at
    opted_out_at = (
        datetime.combine(profile.opted_out_on, time(15, 0), tzinfo=UTC) if profile.opted_out_on else None
    )
    updated_at = max(last_seen, opted_out_at or created_at, created_at)
    customer = SandboxCustomer(
        pos_customer_id=pos_id,
        pseudonym=make_pseudonym(MERCHANT_ID, pos_id, SANDBOX_PSEUDONYM_SECRET),
        personas=profile.labels,
        signature_sku=profile.signature_sku,
        rhythm_days=profile.rhythm_days,
        tier=tier_for_points(earned),  # the program's rule: lifetime points earned
        points=earned - redeemed,
        points_earned=earned,
        consent_sms=profile.consent_sms,
        consent_email=profile.consent_email,
        consent_alcohol_marketing=profile.consent_alcohol_marketing,
        opted_out_at=opted_out_at,
        age_verified=profile.age_verified,
        birthday=profile.birthday,
        allergies=profile.allergies,
        timezone=profile.timezone,
        home_location_id=profile.home_location_id,
        created_at=created_at,
        updated_at=updated_at,
        contact=draw_contact(seed, profile, end),
    )
    return customer, transactions


def _walk_in(seed: int, number: int, start: date, end: date) -> SandboxTransaction | None:
    """An anonymous guest: no loyalty profile, unknown allergies, adult where alcohol is sold."""
    rng = random.Random(f"harbor-vine:{seed}:walkin:{number}")
    day = start + timedelta(days=rng.randrange((end - start).days))
    location = SANDBOX_LOCATIONS[0] if rng.random() < 0.65 else SANDBOX_LOCATIONS[1]
    weekend = day.weekday() >= 5
    roll = rng.random()
    if weekend and roll < 0.3:
        kind, span = "brunch", BRUNCH
    elif roll < 0.45:
        kind, span = "lunch", LUNCH
    elif location.sells_alcohol and day.weekday() in (3, 4, 5) and roll > 0.92:
        kind, span = "bar", BAR
    else:
        kind, span = "dinner", DINNER
    occurred_at = local_to_utc(day, arrival_minute(rng, span), rng.randrange(60), location.timezone)
    if occurred_at >= datetime.combine(end, time(), tzinfo=UTC):
        return None
    party_size, kids = party_for(rng, "occasional")
    pools = menu_pools(frozenset(), location.sells_alcohol)
    lines, total = lines_from(build_basket(rng, kind=kind, party_size=party_size, kids=kids, pools=pools))
    return SandboxTransaction(
        pos_transaction_id="txn_" + short_hash(f"{seed}:walkin:{number}"),
        location_id=location.id,
        pos_customer_id=None,
        occurred_at=occurred_at,
        party_size=party_size,
        total_cents=total,
        lines=lines,
    )


def _walk_in_count(customers: int, months: int) -> int:
    return customers * months * 8 // 120  # ~0.8 anonymous tickets per loyalty customer per year


def iter_walk_ins(seed: int, customers: int, months: int, start: date, end: date) -> Iterator[SandboxTransaction]:
    for number in range(_walk_in_count(customers, months)):
        txn = _walk_in(seed, number, start, end)
        if txn is not None:
            yield txn


def generate_sandbox(
    *, customers: int = 2000, months: int = 12, seed: int = 42, end: date = DEFAULT_END
) -> SandboxData:
    """The whole sandbox in memory (plain dataclasses), personas included as ground truth.

    Meant for tests and evals at modest sizes; `seed_database` streams instead.
    """
    start, end = history_window(months, end)
    data = SandboxData(
        merchant_id=MERCHANT_ID,
        merchant_name=MERCHANT_NAME,
        start=start,
        end=end,
        locations=SANDBOX_LOCATIONS,
        menu=MENU,
    )
    for index in range(1, customers + 1):
        customer, transactions = customer_bundle(seed, index, start, end)
        data.customers.append(customer)
        data.transactions.extend(transactions)
    data.transactions.extend(iter_walk_ins(seed, customers, months, start, end))
    return data
