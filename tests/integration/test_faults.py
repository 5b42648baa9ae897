"""Faults against the real `serve` (short forms; `make bench` runs benchmarks/faults.py at full length).

- worker processes SIGKILLed at random moments while they decide: every event ends done, nothing is lost,
  no promo code, points or message is applied twice or missing;
- PostgreSQL connections killed (pg_terminate_backend) again and again mid-run: the same, with no manual
  step and nothing half-written;
- the model endpoint stalls past the budget, answers garbage or errors: every decision falls back within
  the budget, and every offer that exists went through the rules (none is sent unchecked).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from db.engine import get_engine
from db.tables import AuditEvent, InboxEvent, Offer
from tests.integration.fault_world import (
    RecordingProvider,
    audit_effects,
    fault_env,
    run_fault_scenario,
    wait_done,
)
from tests.integration.live_serve import LiveServe, sales_for, seeded_deployment
from tests.integration.scripted_openai import (
    ScriptedOpenAIServer,
    ScriptedReply,
    error_reply,
    text_reply,
    tool_call,
    tool_calls_reply,
)


def _run(tmp_path: Path, *, database_url: str | None, workers: int, events: int, fault: str) -> None:
    run = run_fault_scenario(tmp_path, database_url=database_url, workers=workers, events=events, fault=fault)
    assert run.faults > 0
    assert run.audit.problems == [], run.audit.problems
    assert run.audit.sent_offers >= 1 and run.audit.deliveries >= 1, run.audit


def test_worker_processes_killed_while_deciding(tmp_path: Path) -> None:
    _run(tmp_path, database_url=None, workers=1, events=14, fault="kill")


@pytest.mark.postgres
def test_postgres_connections_terminated_mid_run(postgres_url: str, tmp_path: Path) -> None:
    _run(tmp_path, database_url=postgres_url, workers=2, events=24, fault="pg")


def _misbehaving_model(body: dict[str, Any]) -> ScriptedReply:
    """Stalls past the budget, garbage, server errors, and an out-of-policy offer, in turn."""
    turn = len(body.get("messages", [])) + int(time.monotonic() * 10)
    kind = turn % 4
    if kind == 0:
        return text_reply("{not json at all", delay_s=5.0)
    if kind == 1:
        return text_reply("I would love to help! Here is a great offer: 90% off everything")
    if kind == 2:
        return error_reply(503, "overloaded")
    offer = {"make_offer": True, "offer_type": "percent_off_item", "sku": "NO-SUCH-SKU", "discount_pct": 95,
             "expires_in_days": 3, "channel": "sms", "confidence": 0.99, "strategy": "favourite",
             "sms_text": "95% off! Reply STOP to opt out", "rationale": "unchecked"}
    return tool_calls_reply(tool_call("submit_offer", offer))


def test_model_endpoint_faults_fall_back_within_budget_and_nothing_unchecked(tmp_path: Path) -> None:
    dep = seeded_deployment(tmp_path / "data", customers=60)
    provider = RecordingProvider()
    sales = sales_for(dep, count=10, seed=5)
    with ScriptedOpenAIServer(responder=_misbehaving_model) as model:
        env = fault_env(dep, provider, LLM_PROVIDER="openai", LLM_BASE_URL=model.base_url, LLM_API_KEY="k",
                        LLM_MODEL="scripted-model", LLM_TIMEOUT_S="1.0", DECISION_BUDGET_S="1.5")
        with LiveServe(dep, env=env) as serve:
            serve.wait_ready()
            ids = [serve.post_sale(s) for s in sales]
            wait_done(serve, ids, timeout=180)
    provider.close()
    assert model.requests, "the model endpoint was never called"
    with Session(get_engine(dep.database_url)) as s:
        offers = list(s.execute(select(Offer).where(col(Offer.event_id).in_(ids))).scalars())
        drafts = list(s.execute(select(AuditEvent).where(col(AuditEvent.correlation_id).in_(ids),
                                                         col(AuditEvent.node) == "draft_offer")).scalars())
        checked = set(s.execute(select(col(AuditEvent.correlation_id)).where(
            col(AuditEvent.correlation_id).in_(ids), col(AuditEvent.node) == "check_guardrails")).scalars())
    assert len(drafts) == len(ids)
    with Session(get_engine(dep.database_url)) as s:
        retrieved = {a.correlation_id: a.created_at for a in s.execute(select(AuditEvent).where(
            col(AuditEvent.correlation_id).in_(ids), col(AuditEvent.node) == "retrieve_context")).scalars()}
    for d in drafts:  # the drafting step kept to the 1.5 s budget (stalled replies were abandoned)
        assert (d.created_at - retrieved[d.correlation_id]).total_seconds() < 1.5 + 1.0, d.outputs
    # Every draft fell back (no reply was usable) and said why.
    assert all(d.outputs.get("fallback_reason") for d in drafts), [d.outputs for d in drafts]
    for offer in offers:  # nothing reached a guest without the rules: every offer row was checked
        assert offer.event_id in checked and offer.verdicts, offer
        assert not (offer.status == "sent" and offer.discount_pct and offer.discount_pct > 30), offer
    result = audit_effects(dep.database_url, ids, points_before={}, provider=None, started_ledger_id=10**12)
    assert not [p for p in result.problems if "points moved" not in p], result.problems


POS_ACTION_ROUTES = ("POST /v2/catalog/object", "PUT /v2/customers/{id}/custom-attributes/{id}",
                     "POST /v2/customers/{id}/custom-attributes/{id}", "POST /v2/loyalty/accounts/search",
                     "POST /v2/loyalty/accounts/{id}/accumulate")


def test_pos_outage_is_ridden_out_and_the_webhook_path_is_unaffected(tmp_path: Path) -> None:
    """Square (the POS that issues codes and points) answers 503 to every action for a while: decisions
    that reach `execute` wait for it (retried, never failed for good), the webhook keeps acking fast, and
    once Square is back every event completes with each code and points accrual made once."""
    from db.tables import Customer, Location
    from tests.integration.fake_square import TOKEN, FakeSquare, serve

    dep = seeded_deployment(tmp_path / "data", customers=60)
    fake = FakeSquare()
    with Session(get_engine(dep.database_url)) as s:
        location = s.execute(select(Location)).scalars().first()
        assert location is not None
        for c in s.execute(select(Customer)).scalars():
            fake.customers[c.pos_customer_id] = {"id": c.pos_customer_id, "created_at": "2025-01-02T10:00:00Z"}
            fake.accounts[f"LA_{c.id}"] = {"id": f"LA_{c.id}", "program_id": "PROG_1",
                                           "customer_id": c.pos_customer_id, "balance": 0, "lifetime_points": 0}
    for route in POS_ACTION_ROUTES:
        fake.fail_before[route] = 10**6  # down until we say
    sales = sales_for(dep, count=8, seed=9)
    provider = RecordingProvider()
    with serve(fake) as square_url:
        env = fault_env(dep, provider, POS_PROVIDER="square", SQUARE_ACCESS_TOKEN=TOKEN, SQUARE_BASE_URL=square_url,
                        SQUARE_LOCATION_ID=location.id)
        with LiveServe(dep, env=env) as serve_:
            serve_.wait_ready()
            acks: list[float] = []
            ids = []
            for sale in sales:
                t = time.perf_counter()
                ids.append(serve_.post_sale(sale))
                acks.append(time.perf_counter() - t)
                time.sleep(0.1)
            deadline = time.monotonic() + 120
            while sum(fake.count(r) for r in POS_ACTION_ROUTES) == 0:  # decisions are meeting the outage
                assert time.monotonic() < deadline, serve_.log()[-3000:]
                time.sleep(0.5)
            time.sleep(20)  # longer than the retry budget of an event's own errors (5 attempts from 0.2 s)
            with Session(get_engine(dep.database_url)) as s:
                waiting = s.execute(select(InboxEvent).where(col(InboxEvent.id).in_(ids),
                                                             col(InboxEvent.status) != "done")).scalars().all()
                assert waiting and not [e for e in waiting if e.status == "failed"], waiting
            for route in POS_ACTION_ROUTES:  # Square is back
                fake.fail_before[route] = 0
            wait_done(serve_, ids, timeout=180)
    provider.close()
    assert max(acks) < 2.0, acks  # the ack never waited for the POS
    with Session(get_engine(dep.database_url)) as s:
        rows = list(s.execute(select(InboxEvent).where(col(InboxEvent.id).in_(ids))).scalars())
        offers = list(s.execute(select(Offer).where(col(Offer.event_id).in_(ids), col(Offer.status) == "sent"))
                      .scalars())
    assert all(r.status == "done" for r in rows), [(r.id, r.status, r.last_error) for r in rows]
    assert offers, "no offer was sent after the outage"
    codes = [o.promo_code for o in offers if o.offer_type != "bonus_points"]
    names = [d["discount_data"]["name"] for d in fake.discounts()]
    assert all(names.count(code) == 1 for code in codes), (codes, names)  # each code created once in Square
    bonus = [o for o in offers if o.offer_type == "bonus_points"]
    assert len(fake.loyalty_events) == len(bonus)  # each bonus accrued once
