"""Guardrail and pseudonymization latency.

    python -m benchmarks.guardrails [--offers 3000] [--profiles 200] [--seed 7] [--skip-pii]

Prints median and p99 of: evaluating every rule for one drafted offer (goal: median <= 1 ms), and
pseudonymizing one profile's free text cold (cache miss; goal: median <= 15 ms) and cached. Also
the time to scan hostile 70,000-character runs (word, digits, "a@" + word, spaced digits) with the
PII pre-scan and with the whole copy rule on an email body at the type's size bound (goal: linear,
a few ms; the old email pattern took seconds on one word run).
Offers are varied: every offer type, a 60-item catalog, customers with known/unknown allergies,
alcohol eligibility, histories of 0-8 messages, times inside and outside quiet hours, and copy
that is compliant or carries the usual violations.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial

from core.schemas import (
    MAX_EMAIL_BODY_CHARS,
    CatalogFact,
    CustomerFacts,
    GuardrailReport,
    OfferDraft,
    OfferHistoryEntry,
    OfferType,
)
from guardrails import GuardrailContext, Policy, evaluate
from guardrails.copy import check_copy
from guardrails.pii_scan import contains_raw_pii

OFFER_TYPES: list[OfferType] = [
    "percent_off_item", "amount_off_item", "free_item", "percent_off_category", "bonus_points"
]
ALLERGENS = ["milk", "eggs", "fish", "shellfish", "tree_nuts", "peanuts", "wheat", "soy", "sesame"]
CATEGORIES = ["starters", "mains", "desserts", "drinks", "brunch", "kids", "sides"]
NAMES = ["Maria Gonzalez", "John Smith", "Aisha Khan", "Oliver Bennett", "Wei Zhang", "Priya Natarajan",
         "Lucas Martin", "Sofia Rossi", "Kwame Mensah", "Hannah Schmidt"]
NOTE_TEMPLATES = [
    "{name} prefers the window table; call {phone} if the booth frees up. Allergic to {allergen}.",
    "Regular on Fridays. Email {email} for the wine club. Husband {name2} likes the steak.",
    "Paid with card {card}, asked for receipts to {email}. Birthday dinner for {name} next month.",
    "Lives at {number} Oak Street, orders brunch for {name2}; text {phone} when ready.",
    "Celebrating anniversary, very friendly, tips well. Likes the pecan pie and espresso.",
]
CARDS = ["4111 1111 1111 1111", "5555-5555-5555-4444", "4012888888881881"]


def make_catalog(rng: random.Random) -> dict[str, CatalogFact]:
    catalog: dict[str, CatalogFact] = {}
    for index in range(60):
        category = CATEGORIES[index % len(CATEGORIES)]
        price = rng.randrange(300, 5000, 25)
        alcohol = category == "drinks" and index % 2 == 0
        sku = f"{category[:3].upper()}-{index:03d}"
        catalog[sku] = CatalogFact(
            sku=sku,
            name=f"{rng.choice(['Grilled', 'Smoked', 'House', 'Crispy', 'Seasonal'])} {category.title()} {index}",
            category=category,
            subcategory="wine" if alcohol else None,
            price_cents=price,
            unit_cost_cents=int(price * rng.uniform(0.2, 0.6)),
            allergens=rng.sample(ALLERGENS, k=rng.randint(0, 3)),
            contains_alcohol=alcohol,
        )
    return catalog


def make_context(
    rng: random.Random, catalog: dict[str, CatalogFact], policy: Policy, now: datetime
) -> GuardrailContext:
    skus = list(catalog)
    offer_type = rng.choice(OFFER_TYPES)
    sku = rng.choice(skus)
    pct = rng.choice([10, 15, 20, 25, 30, 50, 100])
    item = catalog[sku]
    copy = rng.choice([
        f"Hi {{first_name}}, {pct}% off {item.name} with code {{promo_code}}. Reply STOP to opt out",
        f"Hi {{first_name}}, enjoy ${item.price_cents // 100} {item.name} on us this week! Reply STOP to opt out",
        "Hi Maria, 500 bonus points waiting! Call 415-555-0199. Reply STOP to opt out",
        f"Hey there, {pct}% off and a glass of wine with {item.name}, valid 14 days. Reply STOP to opt out",
        f"Hi {{first_name}}, {pct}% off {item.name}",
    ])
    offer = OfferDraft(
        make_offer=rng.random() > 0.05,
        offer_type=offer_type,
        sku=sku if offer_type != "percent_off_category" else None,
        category=item.category if offer_type == "percent_off_category" else None,
        discount_pct=pct if offer_type.startswith("percent") else None,
        discount_cents=rng.randrange(100, 1500, 50) if offer_type == "amount_off_item" else None,
        bonus_points=rng.randrange(100, 2000, 100) if offer_type == "bonus_points" else None,
        channel=rng.choice(["sms", "sms", "email"]),
        sms_text=copy,
        email_subject="A little something for you",
        email_body=copy,
        confidence=rng.random(),
    )
    customer = CustomerFacts(
        pseudonym=f"g_{rng.getrandbits(64):016x}",
        tier=rng.choice(["member", "silver", "gold", "vip"]),
        age_verified=rng.random() > 0.3,
        birthday=rng.choice([None, date(rng.randint(1950, 2010), rng.randint(1, 12), rng.randint(1, 28))]),
        allergies=rng.choice([None, [], rng.sample(ALLERGENS, k=rng.randint(1, 2))]),
        consent_sms=rng.random() > 0.2,
        consent_email=rng.random() > 0.4,
        consent_alcohol_marketing=rng.random() > 0.5,
        timezone=rng.choice(["America/New_York", "America/Los_Angeles", "Europe/London"]),
        clv_cents=rng.randint(0, 300_000),
    )
    history = [
        OfferHistoryEntry(at=now - timedelta(hours=rng.randint(1, 24 * 20)), channel=rng.choice(["sms", "email"]))
        for _ in range(rng.randint(0, 8))
    ]
    return GuardrailContext(offer=offer, customer=customer, catalog=catalog, history=history, policy=policy,
                            now=now + timedelta(minutes=rng.randint(0, 24 * 60)))


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def report(label: str, samples_ms: list[float], cpu_ms: list[float]) -> None:
    """Wall-clock median/p99, plus the median CPU time of this process (robust to a busy machine)."""
    print(
        f"{label:<44} n={len(samples_ms):>5}  median={statistics.median(samples_ms):7.3f} ms  "
        f"p99={percentile(samples_ms, 99):7.3f} ms  cpu median={statistics.median(cpu_ms):7.3f} ms"
    )


def timed(call: Callable[[], object], wall: list[float], cpu: list[float]) -> object:
    start_wall, start_cpu = time.perf_counter(), time.thread_time()
    value = call()
    wall.append((time.perf_counter() - start_wall) * 1000)
    cpu.append((time.thread_time() - start_cpu) * 1000)
    return value


def bench_rules(offers: int, seed: int) -> None:
    rng = random.Random(seed)
    catalog = make_catalog(rng)
    policy = Policy()
    now = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    contexts = [make_context(rng, catalog, policy, now) for _ in range(offers)]
    for ctx in contexts[:50]:  # warm regex and zoneinfo caches
        evaluate(GuardrailContext(offer=ctx.offer, customer=ctx.customer, catalog=catalog, history=ctx.history,
                                  policy=policy, now=ctx.now))
    samples: list[float] = []
    cpu: list[float] = []
    verdicts: dict[str, int] = {}
    for ctx in contexts:
        report_ = timed(partial(evaluate, ctx), samples, cpu)
        assert isinstance(report_, GuardrailReport)
        verdicts[report_.verdict] = verdicts.get(report_.verdict, 0) + 1
    report("evaluate all rules, one offer", samples, cpu)
    print(f"{'':<44} verdicts: {dict(sorted(verdicts.items()))}")


LONG_RUNS = {
    "word run": "a" * 70_000,
    "digit run": "1" * 70_000,
    "'a@' + word run": "a@" + "b" * 70_000,
    "spaced digits": "1 " * 35_000,
}


def bench_long_runs(repeats: int = 5) -> None:
    """Hostile 70,000-character inputs: the PII pre-scan, and the copy rule on the longest email body."""
    catalog = make_catalog(random.Random(1))
    sku = next(iter(catalog))
    for label, text in LONG_RUNS.items():
        wall: list[float] = []
        cpu: list[float] = []
        for _ in range(repeats):
            timed(partial(contains_raw_pii, text), wall, cpu)
        report(f"PII pre-scan, 70,000-char {label}", wall, cpu)
    for label, text in LONG_RUNS.items():
        offer = OfferDraft(make_offer=True, offer_type="percent_off_item", sku=sku, discount_pct=10, channel="email",
                           email_subject="A little something", email_body=text[:MAX_EMAIL_BODY_CHARS])
        ctx = GuardrailContext(offer=offer, customer=CustomerFacts(pseudonym="g_long", consent_email=True),
                               catalog=catalog, history=[], policy=Policy(),
                               now=datetime(2026, 1, 15, 17, 0, tzinfo=UTC))
        wall, cpu = [], []
        for _ in range(repeats):
            timed(partial(check_copy, ctx), wall, cpu)
        report(f"copy rule, {MAX_EMAIL_BODY_CHARS:,}-char body ({label})", wall, cpu)


def make_note(rng: random.Random, index: int) -> str:
    name, name2 = rng.sample(NAMES, 2)
    first = name.split()[0].lower()
    note = rng.choice(NOTE_TEMPLATES).format(
        name=name, name2=name2, phone=f"({rng.randint(201, 989)}) 555-{rng.randint(100, 9999):04d}",
        email=f"{first}.{index}@example.com", allergen=rng.choice(ALLERGENS).replace("_", " "),
        card=rng.choice(CARDS), number=rng.randint(1, 9999),
    )
    return f"{note} Visit {index}."


def bench_pseudonymize(profiles: int, seed: int) -> None:
    from guardrails.pii import Pseudonymizer  # loads spaCy; imported only when measured

    start = time.perf_counter()
    pseudonymizer = Pseudonymizer()
    print(f"{'load Presidio + spaCy model':<44} {time.perf_counter() - start:.2f} s")
    rng = random.Random(seed)
    for index in range(20):  # warm-up, not measured
        pseudonymizer.pseudonymize_text(make_note(rng, -index - 1), customer_pseudonym="g_warm")
    notes = [make_note(rng, index) for index in range(profiles)]
    for label in ("pseudonymize one profile, cold (cache miss)", "pseudonymize one profile, cached"):
        wall: list[float] = []
        cpu: list[float] = []
        for index, note in enumerate(notes):
            call = partial(
                pseudonymizer.pseudonymize_text, note, customer_pseudonym=f"g_{index}", profile_version=1
            )
            timed(call, wall, cpu)
        report(label, wall, cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--offers", type=int, default=3000, help="generated offers to evaluate")
    parser.add_argument("--profiles", type=int, default=200, help="profile notes to pseudonymize")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-pii", action="store_true", help="skip the Presidio part (no model load)")
    args = parser.parse_args()
    bench_rules(args.offers, args.seed)
    bench_long_runs()
    if not args.skip_pii:
        bench_pseudonymize(args.profiles, args.seed)


if __name__ == "__main__":
    main()
