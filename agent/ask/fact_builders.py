"""Turning one guest's records into citable facts (pure functions, no I/O).

Quotes never start with a number: a model joining "... $58.85." and "2026-05-12 ..." would write a
digit run that any PII scan must read as a phone number.

Every quote is PII-free by construction: it is built from numbers, dates, flags and catalog names,
never from contact fields. The one exception is the staff note, which arrives here already
pseudonymized and is marked as untrusted text (source "note").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from agent.ask.allergy import allergy_quote
from agent.ask.guest import OpenOffer
from agent.ask.schemas import Fact
from agent.facts import days_until_birthday
from core.offer_words import describe_offer, money
from core.schemas import CatalogFact
from core.tiers import tier_points, tiers_above
from db.offers import PENDING_REVIEW, REVIEWING, SENT
from db.tables import Customer
from profiles.document import interval_phrase
from profiles.features import ProfileFeatures
from profiles.visits import Visit

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
NOTE_QUOTE_MAX = 300


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def local_day(moment: datetime, tz: str) -> date:
    return moment.astimezone(ZoneInfo(tz)).date()


# ------------------------------------------------------------------------------------------ profile


def profile_facts(customer: Customer, *, today: date, lifetime_points: int | None) -> list[Fact]:
    """Tier, points, allergies as recorded, consents (yes/no only) and birthday month."""
    facts = [
        Fact(id="profile:tier", source="profile", field="tier", quote=f"tier: {customer.tier}", value=customer.tier),
        Fact(
            id="profile:points",
            source="profile",
            field="points",
            quote=f"points balance: {customer.points:,}",
            value=customer.points,
        ),
        Fact(
            id="profile:allergies",
            source="profile",
            field="allergies",
            quote=allergy_quote(customer.allergies),
            value=customer.allergies,
        ),
    ]
    earned = tier_points(lifetime_points, customer.points)
    facts.append(
        Fact(
            id="profile:points_earned",
            source="profile",
            field="lifetime_points_earned",
            quote=f"lifetime points earned: {earned:,}"
            + ("" if lifetime_points is not None else " (balance; no ledger)"),
            value=earned,
        )
    )
    for gap in tiers_above(customer.tier, earned):
        name, threshold, to_go = gap.tier, gap.threshold, gap.to_go
        facts.append(
            Fact(
                id=f"profile:points_to_{name}",
                source="profile",
                field="points_to_tier",
                quote=f"{name} at {threshold:,} lifetime points: {to_go:,} to go (computed from points earned)",
                value={"tier": name, "threshold": threshold, "to_go": to_go},
            )
        )
    opted_out = customer.opted_out_at is not None
    consents = {
        "sms": customer.consent_sms and not opted_out,
        "email": customer.consent_email and not opted_out,
        "alcohol_marketing": customer.consent_alcohol_marketing and not opted_out,
        "opted_out": opted_out,
    }
    facts.append(
        Fact(
            id="profile:consents",
            source="profile",
            field="consents",
            quote=f"SMS: {yes_no(consents['sms'])}; email: {yes_no(consents['email'])}; alcohol marketing: "
            f"{yes_no(consents['alcohol_marketing'])}; opted out of all messages (STOP): {yes_no(opted_out)}",
            value=consents,
        )
    )
    if customer.birthday is None:
        facts.append(Fact(id="profile:birthday", source="profile", field="birthday", quote="no birthday on record"))
    else:
        days = days_until_birthday(customer.birthday, today)
        this_month = customer.birthday.month == today.month
        month = MONTHS[customer.birthday.month - 1]
        if not this_month or days is None:
            quote = f"birthday in {month}"
        elif days == 0:
            quote = f"birthday in {month} (this month: today)"
        elif days < 32:
            quote = f"birthday in {month} (this month, in {days} days)"
        else:
            quote = f"birthday in {month} (this month, already passed)"
        facts.append(
            Fact(
                id="profile:birthday",
                source="profile",
                field="birthday",
                quote=quote,
                value={"month": customer.birthday.month, "this_month": this_month, "days_until": days},
            )
        )
    return facts


def alcohol_fact(reasons: Sequence[str]) -> Fact:
    quote = "alcohol: may be suggested" if not reasons else "alcohol: not to be suggested (" + "; ".join(reasons) + ")"
    return Fact(
        id="profile:alcohol_eligibility",
        source="profile",
        field="alcohol_eligibility",
        quote=quote,
        value={"eligible": not reasons, "reasons": list(reasons)},
    )


# ------------------------------------------------------------------------------------------- visits


def visit_facts(features: ProfileFeatures, *, tz: str) -> list[Fact]:
    """Counts, rhythm, expected next visit (a computed fact) and favourites."""
    first, last = local_day(features.first_visit_at, tz), local_day(features.last_visit_at, tz)
    facts = [
        Fact(
            id="profile:visits",
            source="profile",
            field="visits",
            quote=f"visits: {features.visits_total} since {first.isoformat()}; {features.visits_12m} in the last 12 "
            f"months; last visit {last.isoformat()}, {features.days_since_last_visit:.0f} days ago",
            value={
                "visits_total": features.visits_total,
                "visits_12m": features.visits_12m,
                "first": first.isoformat(),
                "last": last.isoformat(),
                "days_since_last": round(features.days_since_last_visit, 1),
            },
        )
    ]
    if features.median_interval_days:
        facts.append(
            Fact(
                id="profile:visit_rhythm",
                source="profile",
                field="median_interval_days",
                quote=f"visits about every {interval_phrase(features.median_interval_days)} "
                f"(median {features.median_interval_days:.0f} days between visits)",
                value=features.median_interval_days,
            )
        )
    expected = local_day(features.expected_next_visit_at, tz)
    basis = "from the visit rhythm" if features.next_visit_basis == "rhythm" else "by the BG/NBD model"
    due_at = local_day(features.next_visit_due_at, tz).isoformat() if features.next_visit_due_at else None
    overdue = f" (overdue: by the usual rhythm due {due_at})" if features.next_visit_overdue and due_at else ""
    facts.append(
        Fact(
            id="profile:expected_next_visit",
            source="profile",
            field="expected_next_visit_at",
            quote=f"expected next visit {expected.isoformat()}, computed {basis}{overdue}; "
            f"chance still active {features.p_alive:.0%}; lifecycle: {features.lifecycle.replace('_', ' ')}",
            value={
                "date": expected.isoformat(),
                "basis": features.next_visit_basis,
                "days_until": (features.expected_next_visit_at - features.computed_at).days,
                "overdue": features.next_visit_overdue,
                "due_by_rhythm": due_at,
                "lifecycle": features.lifecycle,
                "p_alive": round(features.p_alive, 3),
            },
        )
    )
    for fav in features.favourite_items:
        facts.append(
            Fact(
                id=f"profile:favourite:{fav.sku}",
                source="profile",
                field="favourite_item",
                quote=f"{fav.name}: ordered on {fav.visits} of {features.visits_total} visits, last "
                f"{local_day(fav.last_ordered_at, tz).isoformat()}",
                value={"sku": fav.sku, "name": fav.name, "visits": fav.visits, "category": fav.category},
            )
        )
    if features.favourite_categories:
        facts.append(
            Fact(
                id="profile:favourite_categories",
                source="profile",
                field="favourite_categories",
                quote="most ordered categories: "
                + ", ".join(f"{c.name} ({c.share:.0%} of visits)" for c in features.favourite_categories),
                value=[{"name": c.name, "share": c.share} for c in features.favourite_categories],
            )
        )
    return facts


def transaction_fact(visit: Visit, *, pos_id: str, tz: str, location: str | None, field: str) -> Fact:
    day = local_day(visit.occurred_at, tz).isoformat()
    items = ", ".join(f"{ln.name} x{ln.quantity}" if ln.quantity > 1 else ln.name for ln in visit.lines) or "no items"
    where = f" at {location}" if location else ""
    return Fact(
        id=f"transaction:{pos_id}",
        source="transaction",
        field=field,
        quote=f"visit on {day}{where}: {items} (total {money(visit.total_cents)})",
        value={"date": day, "skus": [ln.sku for ln in visit.lines]},
    )


def item_history_fact(item: CatalogFact, visits: Sequence[Visit], *, tz: str) -> Fact:
    """How often this guest ordered one menu item, from every visit on record."""
    with_item = [v for v in visits if any(ln.sku == item.sku for ln in v.lines)]
    if not with_item:
        quote = f"{item.name}: never ordered in {len(visits)} visit{'' if len(visits) == 1 else 's'} on record"
        last = None
    else:
        last = local_day(with_item[-1].occurred_at, tz).isoformat()
        quote = f"{item.name}: ordered on {len(with_item)} of {len(visits)} visits, last {last}"
    return Fact(
        id=f"profile:ordered:{item.sku}",
        source="profile",
        field="item_history",
        quote=quote,
        value={"sku": item.sku, "name": item.name, "visits": len(with_item), "last": last},
    )


# --------------------------------------------------------------------------------------- catalog etc.


def catalog_fact(item: CatalogFact) -> Fact:
    allergens = ", ".join(a.replace("_", " ") for a in item.allergens) or "none listed"
    return Fact(
        id=f"catalog:{item.sku}",
        source="catalog",
        field="menu_item",
        quote=f"{item.name} ({item.category}, {money(item.price_cents)}): allergens {allergens}; "
        f"{'contains alcohol' if item.contains_alcohol else 'no alcohol'}",
        value={
            "sku": item.sku,
            "name": item.name,
            "category": item.category,
            "allergens": list(item.allergens),
            "contains_alcohol": item.contains_alcohol,
        },
    )


def offer_fact(open_offer: OpenOffer, catalog: dict[str, CatalogFact], *, tz: str) -> Fact:
    offer = open_offer.offer
    item = catalog.get(offer.sku) if offer.sku else None
    what = describe_offer(offer, item_name=item.name if item is not None else None)  # the menu name, not the sku
    if offer.status == SENT:
        state = f"sent by {offer.channel}" + (f", code {offer.promo_code}" if offer.promo_code else "")
        usable = True
    elif offer.status in (PENDING_REVIEW, REVIEWING):
        state, usable = "awaiting manager review, not usable yet", False
    else:
        state, usable = "approved, being issued, not usable yet", False
    until = f"; valid until {local_day(offer.expires_at, tz).isoformat()}" if offer.expires_at else ""
    return Fact(
        id=f"offer:{offer.id}",
        source="offer",
        field="offer",
        quote=f"offer: {what}, {state}{until}",
        value={"usable": usable, "status": offer.status, "code": offer.promo_code, "what": what},
    )


# Defence in depth for notes shown to associates: the pseudonymizer (guardrails.pii_address) needs a house
# number and a street suffix or unit, so anything written after an address cue ("lives on Elm", "address:
# 9 Rue de la Paix"), and any "number + capitalised words + Apt/Suite/Unit number", is replaced as well.
_ADDRESS_CUE_RE = re.compile(r"\b(lives at|living at|lives on|home address|address(?: is)?:?|deliver(?:y|ies)? to)\s+"
                             r"[^.;\n]*(?:\.\s*\d+)?", re.IGNORECASE)
_UNIT_ADDRESS_RE = re.compile(r"\b\d{1,6}\s+(?:[A-Z][\w'-]*\.?\s+){1,4}(?:Apt|Suite|Unit|#)\.?\s*\w+")


def scrub_addresses(text: str) -> str:
    text = _ADDRESS_CUE_RE.sub(lambda m: f"{m.group(1)} <ADDRESS>", text)
    return _UNIT_ADDRESS_RE.sub("<ADDRESS>", text)


def note_fact(pseudonymized: str, *, mentions_allergy: bool) -> Fact:
    """The staff note, already pseudonymized (plus `scrub_addresses`). Untrusted: quoted as data,
    never followed."""
    text = " ".join(scrub_addresses(pseudonymized).split())
    if len(text) > NOTE_QUOTE_MAX:
        text = text[: NOTE_QUOTE_MAX - 1] + "…"
    return Fact(
        id="note:staff", source="note", field="staff_note", quote=text, value={"mentions_allergy": mentions_allergy}
    )
