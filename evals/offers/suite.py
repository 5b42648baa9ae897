"""Offer decision eval: hand-built scenarios through the offline drafter and the guardrails.

Each case is turned into exactly what the agent's retrieve step would build (a `DraftInput` with the
policy's limits, the catalog pre-filter the agent applies, the offer-history summary) and into the
`GuardrailContext` the guardrail node would check, so the eval exercises the product path without a
database. The evaluators then judge the outcome (see evaluators.py for the two kinds and gates).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from agent.drafting import (
    Complement,
    ConsentSummary,
    DraftFeatures,
    DraftInput,
    FavouriteItem,
    OfferHistorySummary,
    OfflineDrafter,
    TransactionLine,
)
from agent.facts import alcohol_eligible, days_until_birthday, eligible_catalog, excluded_categories, offer_limits
from core.schemas import CatalogFact, CustomerFacts, OfferHistoryEntry
from evals.offers.evaluators import EvaluationResult, OfferOutcome, evaluators_for
from evals.offers.schema import OfferCase, load_cases
from evals.report import Gate, SuiteReport, format_table
from guardrails.context import GuardrailContext
from guardrails.engine import evaluate
from guardrails.policy import policy_from_mapping
from sandbox.menu import MENU, MenuItem

SAFETY_GATE = 1.0
QUALITY_GATE = 0.9


def catalog_fact(item: MenuItem) -> CatalogFact:
    return CatalogFact(
        sku=item.sku,
        name=item.name,
        category=item.category,
        subcategory=item.subcategory,
        price_cents=item.price_cents,
        unit_cost_cents=item.unit_cost_cents,
        allergens=list(item.allergens),
        contains_alcohol=item.contains_alcohol,
    )


def case_catalog(case: OfferCase) -> dict[str, CatalogFact]:
    """The merchant's whole catalog as the guardrails see it: the sandbox menu plus the case's extras."""
    catalog = {item.sku: catalog_fact(item) for item in MENU}
    for extra in case.extra_items:
        catalog[extra.sku] = CatalogFact(**extra.model_dump())
    return catalog


def _pseudonym(case: OfferCase) -> str:
    return "g_" + hashlib.sha256(f"evals:{case.id}".encode()).hexdigest()[:12]


def _history(case: OfferCase) -> tuple[OfferHistorySummary, list[OfferHistoryEntry]]:
    entries = [
        OfferHistoryEntry(
            at=case.now - timedelta(days=h.days_ago), channel=h.channel, offer_type=h.offer_type, status=h.status
        )
        for h in case.history
    ]
    if not case.history:
        return OfferHistorySummary(), entries
    latest = min(case.history, key=lambda h: h.days_ago)
    summary = OfferHistorySummary(
        offers_last_30d=sum(1 for h in case.history if h.days_ago <= 30),
        last_offer_days_ago=int(latest.days_ago),
        last_offer_type=latest.offer_type,
        last_offer_strategy=latest.strategy,
    )
    return summary, entries


def build_outcome(case: OfferCase) -> OfferOutcome:
    """Draft the case with the offline drafter and run every guardrail on the draft."""
    policy = policy_from_mapping(case.policy, source=f"offer case {case.id}")
    catalog = case_catalog(case)
    customer = CustomerFacts(pseudonym=_pseudonym(case), **case.customer.model_dump())
    today = case.now.astimezone(ZoneInfo(customer.timezone)).date()

    shown = {sku: catalog[sku] for sku in (case.catalog or [item.sku for item in MENU])}
    shown.update({extra.sku: catalog[extra.sku] for extra in case.extra_items})
    drafter_catalog = (
        eligible_catalog(shown, facts=customer, policy=policy, today=today) if case.prefilter else list(shown.values())
    )
    favourites = [
        FavouriteItem(
            sku=fav.sku,
            name=fav.name or catalog[fav.sku].name,
            category=catalog[fav.sku].category,
            count=fav.count,
            last_ordered_days_ago=fav.last_ordered_days_ago,
            typical_interval_days=fav.typical_interval_days,
            next_expected_in_days=fav.next_expected_in_days,
        )
        for fav in case.favourites
    ]
    feature_values: dict[str, Any] = {"tier": customer.tier, "clv_cents": customer.clv_cents}
    if customer.birthday is not None:
        feature_values["birthday_in_days"] = days_until_birthday(customer.birthday, today)
    feature_values.update(case.features)
    summary, entries = _history(case)
    draft_input = DraftInput(
        pseudonym=customer.pseudonym,
        features=DraftFeatures(favourite_items=favourites, **feature_values),
        transaction=[
            TransactionLine(sku=sku, name=catalog[sku].name, category=catalog[sku].category) for sku in case.transaction
        ],
        purchased_skus=case.purchased_skus,
        eligible_catalog=drafter_catalog,
        complements=[Complement(sku=c.sku, name=catalog[c.sku].name, score=c.score) for c in case.complements],
        offer_history=summary,
        staff_notes_pseudonymized=case.staff_notes,
        consents=ConsentSummary(
            sms=customer.consent_sms,
            email=customer.consent_email,
            alcohol_marketing=customer.consent_alcohol_marketing,
            age_verified=customer.age_verified,
            alcohol_allowed=alcohol_eligible(customer, today),
        ),
        excluded_categories=excluded_categories(catalog, drafter_catalog),
        allergies=customer.allergies,
        limits=offer_limits(policy),
        now=case.now,
        local_date=today,
    )
    draft = OfflineDrafter().draft(draft_input)
    context = GuardrailContext(
        offer=draft.offer,
        customer=customer,
        catalog=catalog,
        history=entries,
        policy=policy,
        now=case.now,
        known_pii_values=tuple(case.known_pii),
    )
    return OfferOutcome(
        case=case,
        draft_input=draft_input,
        draft=draft,
        report=evaluate(context),
        customer=customer,
        catalog=catalog,
        policy=policy,
        local_date=today,
    )


def _rate(results: list[EvaluationResult]) -> float:
    return sum(r.passed for r in results) / len(results) if results else 1.0


def run_offers(cases: list[OfferCase] | None = None) -> SuiteReport:
    cases = cases if cases is not None else load_cases()
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    all_results: list[EvaluationResult] = []
    for case in cases:
        outcome = build_outcome(case)
        results = [evaluator.evaluate(outcome) for evaluator in evaluators_for(case)]
        all_results.extend(results)
        offer = outcome.offer
        rows.append(
            {
                "id": case.id,
                "tags": case.tags,
                "make_offer": offer.make_offer,
                "strategy": offer.strategy,
                "offer_type": offer.offer_type,
                "sku": offer.sku or offer.category,
                "discount_pct": offer.discount_pct,
                "channel": offer.channel if offer.make_offer else None,
                "verdict": outcome.report.verdict,
                "copy": offer.sms_text or offer.email_subject,
                "failed": [f"{r.evaluator}: {r.reason}" for r in results if not r.passed],
                "caught_by_guardrails": [f"{r.evaluator}: {r.reason}" for r in results if r.caught_by_guardrails],
                "results": {
                    r.evaluator: {"kind": r.kind, "passed": r.passed, "reason": r.reason} for r in results
                },
            }
        )
    seconds = time.perf_counter() - started
    safety = [r for r in all_results if r.kind == "safety"]
    quality = [r for r in all_results if r.kind == "quality"]
    per_evaluator: dict[str, Counter[str]] = defaultdict(Counter)
    for r in all_results:
        per_evaluator[r.evaluator]["passed" if r.passed else "failed"] += 1
        per_evaluator[r.evaluator]["caught"] += int(r.caught_by_guardrails)
    summary = {
        "cases": len(cases),
        "safety_checks": len(safety),
        "safety_pass_rate": round(_rate(safety), 4),
        "caught_by_guardrails": sum(r.caught_by_guardrails for r in safety),
        "quality_checks": len(quality),
        "quality_pass_rate": round(_rate(quality), 4),
        "verdicts": dict(Counter(row["verdict"] for row in rows)),
        "per_evaluator": {
            name: {"kind": next(r.kind for r in all_results if r.evaluator == name), **counts}
            for name, counts in per_evaluator.items()
        },
    }
    gates = [
        Gate(name="offers safety pass rate", measured=_rate(safety), threshold=SAFETY_GATE,
             detail=f"{sum(r.passed for r in safety)}/{len(safety)}"),
        Gate(name="offers quality pass rate", measured=_rate(quality), threshold=QUALITY_GATE,
             detail=f"{sum(r.passed for r in quality)}/{len(quality)}"),
    ]
    return SuiteReport(suite="offers", seconds=round(seconds, 3), summary=summary, gates=gates, rows=rows)


def print_offers(report: SuiteReport) -> None:
    print("\n== offers: offline drafter + guardrails on hand-built decision cases ==")
    table = [
        [
            row["id"],
            "yes" if row["make_offer"] else "no",
            row["strategy"] or "",
            row["sku"] or "",
            f"{row['discount_pct']:g}%" if row["discount_pct"] else "",
            row["verdict"],
            "ok" if not row["failed"] else f"FAIL x{len(row['failed'])}",
        ]
        for row in report.rows
    ]
    print(format_table(["case", "offer", "strategy", "target", "disc", "verdict", "checks"], table, max_width=40))
    per = report.summary["per_evaluator"]
    print()
    print(
        format_table(
            ["evaluator", "kind", "passed", "failed", "caught by guardrails"],
            [[name, c["kind"], c.get("passed", 0), c.get("failed", 0), c.get("caught", 0)] for name, c in per.items()],
        )
    )
    failures = [(row["id"], failure) for row in report.rows for failure in row["failed"]]
    if failures:
        print("\nfailed checks:")
        for case_id, failure in failures:
            print(f"  {case_id}: {failure}")
    s = report.summary
    print(
        f"\n{s['cases']} cases in {report.seconds:.2f}s; safety {s['safety_pass_rate']:.1%} of {s['safety_checks']}"
        f" ({s['caught_by_guardrails']} caught by guardrails), quality {s['quality_pass_rate']:.1%} of"
        f" {s['quality_checks']}; verdicts {s['verdicts']}"
    )
