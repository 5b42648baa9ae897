"""`loyalty-agent` command line: seed | serve | worker | replay | ask | apikey | square sync-catalog."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from core.settings import POS_WEBHOOK_SECRET_FILE, Settings, get_settings

app = typer.Typer(help="POS transactions -> safe, personalised loyalty offers.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")
square_app = typer.Typer(help="A Square seller (SQUARE_ACCESS_TOKEN).", no_args_is_help=True)
app.add_typer(square_app, name="square")
campaigns_app = typer.Typer(help="Proactive campaigns (plan and approve them through the API).", no_args_is_help=True)
app.add_typer(campaigns_app, name="campaigns")

ROLES = ("associate", "marketer", "manager", "admin")


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _engine() -> Any:
    from db.engine import get_engine, migrate

    settings = get_settings()
    migrate(settings.database_url)
    return get_engine(settings.database_url)


def show_new_pos_webhook_secret(settings: Settings, *, stream: TextIO | None = None) -> None:
    """Show the POS webhook secret once, when it was just generated, and only on a terminal.

    Never on later starts, never when it comes from the environment, never through `logging`; output that
    is not a terminal usually ends up in a log file, so there only the file holding it is named.
    """
    secret = settings.new_pos_webhook_secret()
    if secret is None:
        return
    out = stream or sys.stderr
    where = settings.data_dir / POS_WEBHOOK_SECRET_FILE
    if out.isatty():
        typer.echo(f"New POS webhook secret (X-Signature HMAC key), shown this once: {secret}\n"
                   f"(kept in {where}; set POS_WEBHOOK_SECRET to use your own)", file=out)
    else:
        typer.echo(f"A POS webhook secret was generated into {where} (not shown: this output is not a terminal)",
                   file=out)


@app.command()
def seed(
    customers: Annotated[int, typer.Option(min=1, help="Number of guests.")] = 2000,
    months: Annotated[int, typer.Option(min=1, max=36, help="Months of transaction history.")] = 12,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same restaurant).")] = 42,
) -> None:
    """Create the sandbox restaurant (idempotent: a seeded database is left unchanged)."""
    from sandbox.seed import seed_database

    started = time.perf_counter()
    result = seed_database(_engine(), customers=customers, months=months, seed=seed)
    took = time.perf_counter() - started
    if result.created:
        typer.echo(f"seeded sandbox in {took:.1f}s: " + ", ".join(f"{k}={v}" for k, v in result.counts.items()))
    else:
        typer.echo("database already seeded: nothing changed")
    typer.echo("profiles and vectors are built by `serve` in the background (or now: `loyalty-agent reindex`)")


@app.command()
def reindex() -> None:
    """Rebuild every customer's features and vectors now (through `serve`'s worker when it is running)."""
    from agent.indexing import reindex_all
    from vectorstore.service import through_running_owner

    _setup_logging()
    started = time.perf_counter()
    n = reindex_all(through_running_owner(get_settings()))
    typer.echo(f"indexed {n} customer profiles in {time.perf_counter() - started:.1f}s")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(min=0, help="Worker processes (SQLite: at most 1; 0 = API only).")] = 1,
) -> None:
    """Serve the HTTP API and run the decisions in supervised worker processes, started and stopped with it."""
    import uvicorn

    from api.main import create_app
    from loyalty_agent.processes import owns_vectors, supervised, worker_processes_for

    _setup_logging()
    settings = get_settings()
    if worker_processes_for(settings, workers) < workers:
        typer.echo("SQLite allows one worker process; using 1 (use PostgreSQL for more)")
        workers = 1
    show_new_pos_webhook_secret(settings)  # before create_app, which would make it silently
    if workers and owns_vectors(settings):
        # A worker process owns the embedded engine; this process searches through it.
        settings = settings.model_copy(update={"vector_service": True})
    application = create_app(settings, background=supervised(workers) if workers else None)
    uvicorn.run(application, host=host, port=port, log_level="info")


@app.command()
def worker(
    processes: Annotated[int, typer.Option("--processes", "-p", min=1,
                                           help="Worker processes (SQLite: at most 1).")] = 1,
) -> None:
    """Run supervised worker processes only (scale-out on PostgreSQL next to `serve --workers 0`)."""
    from loyalty_agent.processes import WorkerSupervisor, worker_processes_for

    _setup_logging()
    settings = get_settings()
    _engine()  # migrations first, once, before the children start
    if worker_processes_for(settings, processes) < processes:
        typer.echo("SQLite allows one worker process; using 1 (use PostgreSQL for more)")
        processes = 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    supervisor = WorkerSupervisor(settings, processes=processes).start()
    while not stop.wait(0.5):
        pass
    supervisor.stop()


@app.command("worker-process", hidden=True)
def worker_process(slot: Annotated[int, typer.Option(min=0)] = 0) -> None:
    """One supervised worker process (started by `serve` / `worker`, not by hand)."""
    from db.engine import get_engine
    from loyalty_agent.processes import run_worker_process

    _setup_logging()
    settings = get_settings()
    run_worker_process(settings, get_engine(settings.database_url), slot=slot)


@app.command()
def ask(
    customer: Annotated[str, typer.Argument(help="The guest's POS customer id (what the till shows).")],
    question: Annotated[str, typer.Argument(help="The question, e.g. \"any allergies?\" (at most 1,000 characters).")],
    vectors: Annotated[bool, typer.Option(help="Search purchase vectors for open questions (through the "
                                               "running `serve` when it owns the embedded store).")] = True,
) -> None:
    """Ask about one guest as an associate would: prints the answer and the facts it cites."""
    from agent.ask.service import UnknownGuestError, build_ask_agent
    from agent.runner import build_agent
    from vectorstore.service import through_running_owner

    settings = through_running_owner(get_settings()) if vectors else get_settings()
    offer_agent = build_agent(settings, _engine(), with_vectors=vectors)
    try:
        result = build_ask_agent(settings, offer_agent.ctx).ask(customer, question, actor="cli")
    except UnknownGuestError:
        typer.echo(f"no customer with POS id {customer!r}", err=True)
        raise typer.Exit(2) from None
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    finally:
        offer_agent.close()
    out = result.answer
    typer.echo(out.answer)
    for citation in out.citations:
        typer.echo(f"  [{citation.source}] {citation.id} ({citation.field}): {citation.quote}")
    typer.echo(f"-- {out.model} {out.prompt_version}" + (" (abstained)" if out.abstained else "")
               + (f"; fallback: {result.fallback_reason}" if result.fallback_reason else ""))


@app.command("import")
def import_sales_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="Past sales: .jsonl (one sale.completed event per line) or .csv.")],
    index: Annotated[bool, typer.Option(help="Rebuild the touched merchants' profiles and vectors afterwards.")] = True,
) -> None:
    """Backfill past sales: recorded once each, profiles rebuilt, nothing decided and nobody messaged."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from loyalty_agent.backfill import BackfillFileError, import_sales, read_sales

    _setup_logging()
    settings = get_settings()
    engine = _engine()
    try:
        total = sum(1 for _ in read_sales(file, engine))
        with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
            task = bar.add_task("sales", total=total)
            report = import_sales(engine, read_sales(file, engine),
                                  pseudonym_secret=settings.resolved_pseudonym_secret(), checks=settings.sale_checks,
                                  progress=lambda n: bar.advance(task, n))
    except BackfillFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    for where, why in report.refused[:20]:
        typer.echo(f"refused {where}: {why}", err=True)
    if len(report.refused) > 20:
        typer.echo(f"... and {len(report.refused) - 20} more refused", err=True)
    typer.echo(f"{report.recorded} sales recorded, {report.duplicates} already there, {len(report.refused)} refused;"
               " no offers were made")
    if index and report.merchants:
        from agent.indexing import reindex_all
        from vectorstore.service import through_running_owner

        n = reindex_all(through_running_owner(settings), merchants=sorted(report.merchants))
        typer.echo(f"profiles and vectors rebuilt for {n} guests")
    if report.refused and not report.recorded:
        raise typer.Exit(1)


@app.command()
def replay(
    url: Annotated[str, typer.Option(help="Base URL of a running server.")] = "http://127.0.0.1:8000",
    count: Annotated[int, typer.Option(min=1, help="Sales to send.")] = 50,
    duplicates: Annotated[int, typer.Option(min=0, help="Of those, how many to send a second time.")] = 0,
    seed: Annotated[int | None, typer.Option(help="Random seed for the sample (default: time-based).")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64)] = 8,
) -> None:
    """Send sandbox transactions as signed `sale.completed` webhooks to a running server."""
    import httpx

    from api.signatures import sign_pos
    from sandbox.replay import sample_sales

    settings = get_settings()
    secret = settings.resolved_pos_webhook_secret()
    sales = sample_sales(_engine(), count=count, seed=seed if seed is not None else time.time_ns() % 2**31)
    bodies = [json.dumps(s, separators=(",", ":")).encode() for s in sales]
    sends = bodies + bodies[: min(duplicates, len(bodies))]
    results: dict[str, int] = {}
    event_ids: set[str] = set()

    with httpx.Client(base_url=url, timeout=30) as client:

        def _send(body: bytes) -> tuple[int, dict[str, Any]]:
            headers = {"content-type": "application/json", "x-signature": sign_pos(secret, body)}
            r = client.post("/webhooks/pos", content=body, headers=headers)
            return r.status_code, r.json() if r.headers.get("content-type", "").startswith("application/json") else {}

        # Originals first, then the duplicates, so a duplicate always finds its original.
        with ThreadPoolExecutor(concurrency) as pool:
            outcomes = list(pool.map(_send, bodies))
            outcomes += list(pool.map(_send, sends[len(bodies):]))
    for code, payload in outcomes:
        key = f"{code} {payload.get('status', payload.get('detail', ''))}"
        results[key] = results.get(key, 0) + 1
        if "event_id" in payload:
            event_ids.add(payload["event_id"])
    typer.echo(json.dumps({"sent": len(sends), "responses": results, "distinct_event_ids": len(event_ids),
                           "event_ids": sorted(event_ids)}, indent=1))


@apikey_app.command("create")
def apikey_create(
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")],
    name: Annotated[str | None, typer.Option(help="Who or what the key is for.")] = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from db.crud import create_api_key
    from db.engine import session_scope

    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}", param_hint="--role")
    with session_scope(_engine()) as session:
        _key, raw = create_api_key(session, role=role, name=name)
    typer.echo(raw)


@apikey_app.command("list")
def apikey_list(
    active: Annotated[bool, typer.Option("--active", help="Only keys that are not revoked.")] = False,
) -> None:
    """List API keys: id, prefix, role, name, created, revoked (the keys themselves are never stored)."""
    from db.crud import list_api_keys
    from db.engine import session_scope

    with session_scope(_engine()) as session:
        keys = list_api_keys(session, include_revoked=not active)
    typer.echo(f"{'id':>4}  {'prefix':<8}  {'role':<9}  {'created (UTC)':<16}  {'revoked (UTC)':<16}  name")
    for key in keys:
        revoked = key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "-"
        typer.echo(f"{key.id:>4}  {key.prefix:<8}  {key.role:<9}  {key.created_at.strftime('%Y-%m-%d %H:%M'):<16}  "
                   f"{revoked:<16}  {key.name or ''}")


@apikey_app.command("revoke")
def apikey_revoke(key_id: Annotated[int, typer.Argument(help="The key's id (see `apikey list`).", min=1)]) -> None:
    """Revoke a key at once: its API calls and its /ui sessions are refused from the next request."""
    from db.crud import revoke_api_key
    from db.engine import session_scope

    with session_scope(_engine()) as session:
        key = revoke_api_key(session, key_id)
        if key is None:
            typer.echo(f"no API key with id {key_id}", err=True)
            raise typer.Exit(1)
        typer.echo(f"revoked key {key.id} ({key.role}{', ' + key.name if key.name else ''}) "
                   f"at {key.revoked_at:%Y-%m-%d %H:%M:%S} UTC")


@campaigns_app.command("run-due")
def campaigns_run_due(
    merchant: Annotated[str | None, typer.Option(help="Merchant id (default: DEFAULT_MERCHANT_ID).")] = None,
    automatic: Annotated[bool, typer.Option(help="Also start the policy's automatic campaigns of the period.")] = True,
) -> None:
    """Plan the campaigns waiting for their plan, then run every approved campaign whose send time has come,
    to completion (cron-able; safe to run twice or next to the worker: plans, campaigns and guests are
    claimed, each guest decided once)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agent.campaigns import service
    from agent.campaigns.run import CampaignRunner
    from agent.runner import build_agent

    _setup_logging()
    settings = get_settings()
    agent = build_agent(settings, _engine(), with_vectors=False)  # query audiences were resolved when created
    merchant_id = merchant or settings.default_merchant_id
    try:
        planned = {c.id: c.status for c in service.plan_pending(agent.ctx, merchant_id=merchant_id)}
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      transient=False) as bar:
            tasks: dict[str, Any] = {}

            def show(campaign_id: str, done: int, total: int) -> None:
                if campaign_id not in tasks:
                    tasks[campaign_id] = bar.add_task(campaign_id, total=total)
                bar.update(tasks[campaign_id], completed=done, total=total)

            summary = CampaignRunner(agent).run_due(merchant_id, progress=show, automatic=automatic)
    finally:
        agent.close()
    typer.echo(json.dumps({"planned": planned, "campaigns": summary.campaigns, "outcomes": dict(summary.outcomes)},
                          indent=1))


@app.command()
def simulate(
    days: Annotated[int, typer.Option(min=0, max=90, help="Days to live through on the sandbox's test clock "
                                                         "(0: only put the sandbox on its clock).")] = 14,
    url: Annotated[str, typer.Option(help="Base URL of the running server the sales are sent to.")] = (
        "http://127.0.0.1:8000"),
    seed: Annotated[int, typer.Option(help="The seed the sandbox was generated with (personas).")] = 42,
    concurrency: Annotated[int, typer.Option(min=1, max=64)] = 8,
) -> None:
    """Advance the sandbox's test clock day by day: run the campaigns due that day, let the guests respond
    (visits and code redemptions with known probabilities) and send their sales as signed webhooks; then
    print what each campaign's report should find (its true uplift)."""
    import httpx
    from sqlmodel import Session, col, select

    from agent.campaigns.run import CampaignRunner
    from agent.runner import build_agent
    from api.signatures import sign_pos
    from db.clock import advance_test_clock, merchant_now, start_test_clock
    from db.engine import session_scope
    from db.tables import Campaign
    from db.types import utcnow
    from sandbox import simulate as sim
    from sandbox.restaurant import MERCHANT_ID

    _setup_logging()
    settings = get_settings()
    engine = _engine()
    secret = settings.resolved_pos_webhook_secret()
    with session_scope(engine) as session:
        now = start_test_clock(session, MERCHANT_ID, at=sim.CLOCK_START)
    agent = build_agent(settings, engine, with_vectors=False)
    guests = sim.load_guests(engine, seed=seed)
    sent_total = 0
    try:
        with httpx.Client(base_url=url, timeout=60) as client, ThreadPoolExecutor(concurrency) as pool:
            for _ in range(days):
                if now + timedelta(days=1) > utcnow():
                    typer.echo(f"stopped at {now:%Y-%m-%d %H:%M}Z: the test clock cannot pass real time", err=True)
                    break
                CampaignRunner(agent).run_due(MERCHANT_ID)
                _wait_campaigns_run(engine, MERCHANT_ID)
                sales = sim.day_sales(engine, guests, sim.held_offers(engine), seed=seed, day_start=now)

                def post(sale: dict[str, Any]) -> str:
                    body = json.dumps(sale, separators=(",", ":")).encode()
                    r = client.post("/webhooks/pos", content=body, headers={
                        "content-type": "application/json", "x-signature": sign_pos(secret, body)})
                    if r.status_code != 202 and r.json().get("status") != "duplicate":
                        raise RuntimeError(f"sale {sale['event_id']} refused: {r.status_code} {r.text}")
                    return str(r.json()["event_id"])

                event_ids = list(pool.map(post, sales))
                _wait_recorded(engine, event_ids)
                with session_scope(engine) as session:
                    if not advance_test_clock(session, MERCHANT_ID, was=now, to=now + timedelta(days=1)):
                        raise RuntimeError("the test clock was moved by someone else")
                now += timedelta(days=1)
                sent_total += len(sales)
                typer.echo(f"{now - timedelta(days=1):%Y-%m-%d}: {len(sales)} sales, "
                           f"{sum(1 for s in sales if s['data'].get('discounts'))} with codes")
    finally:
        agent.close()
    with Session(engine) as session:
        started = session.exec(select(Campaign.id).where(col(Campaign.merchant_id) == MERCHANT_ID,
                                                         col(Campaign.started_at).is_not(None))).all()
        now = merchant_now(session, MERCHANT_ID)
    held = sim.held_offers(engine)
    truth = [t for cid in started if (t := sim.campaign_truth(engine, guests, held, campaign_id=cid, until=now))]
    typer.echo(json.dumps({"clock": now.isoformat(), "sales_sent": sent_total, "true_effects": truth}, indent=1))


def _wait_campaigns_run(engine: Any, merchant_id: str, timeout_s: float = 1800) -> None:
    """Until no campaign of the merchant is mid-run. `run_due` skips a campaign another runner (the server's
    worker) has claimed; the day's guests must not respond before its offers are out, or they would answer
    to a different set of offers than the ones they hold."""
    from sqlmodel import col, select

    from db import campaigns as lifecycle
    from db.tables import Campaign

    _wait_until_none(engine, select(Campaign).where(col(Campaign.merchant_id) == merchant_id,
                                                    col(Campaign.status) == lifecycle.RUNNING),
                     timeout_s=timeout_s, what="campaigns still running")


def _wait_recorded(engine: Any, event_ids: list[str], timeout_s: float = 600) -> None:
    """Until the worker has processed these inbox events (the next day's campaigns see the visits)."""
    from sqlmodel import col, select

    from db.tables import InboxEvent

    if event_ids:
        _wait_until_none(engine, select(InboxEvent).where(col(InboxEvent.id).in_(event_ids),
                                                          col(InboxEvent.status).in_(("queued", "processing"))),
                         timeout_s=timeout_s, what="sales still waiting for the worker")


def _wait_until_none(engine: Any, rows: Any, *, timeout_s: float, what: str) -> None:
    """Poll until the statement `rows` matches no row; RuntimeError naming how many after `timeout_s`."""
    from sqlmodel import Session, func, select

    count = select(func.count()).select_from(rows.subquery())
    deadline = time.monotonic() + timeout_s
    while True:
        with Session(engine) as session:
            left = session.exec(count).one()
        if not left:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{left} {what} after {timeout_s:.0f} s")
        time.sleep(0.2)


@square_app.command("sync-catalog")
def square_sync_catalog() -> None:
    """Pull the seller's locations and catalog from Square (ListLocations, ListCatalog) into ours.

    Square has no food costs: items without a known cost get no discount until one is set.
    """
    from guardrails.policy import load_policy
    from tools.errors import PermanentError, ToolUnavailable
    from tools.pos.square import SquarePos
    from tools.pos.square_catalog import sync_square_catalog

    settings = get_settings()
    try:
        report = sync_square_catalog(
            _engine(), SquarePos.from_settings(settings), merchant_id=settings.default_merchant_id,
            unknown_allergens=load_policy(settings.policy_file).top9_allergens)
    except (PermanentError, ToolUnavailable, ValueError) as exc:
        typer.echo(f"Square catalog sync failed, nothing written: {exc}", err=True)
        raise typer.Exit(1) from exc
    result = report.catalog
    typer.echo(json.dumps({
        "merchant": settings.default_merchant_id, "locations": report.locations,
        "locations_changed": report.locations_changed, "items_created": result.created,
        "items_updated": result.updated, "items_unchanged": result.unchanged, "items_deactivated": result.deactivated,
        "no_known_cost": result.unknown_cost, "allergens_unknown": result.unknown_allergens,
    }, indent=1))
    if result.unknown_cost:
        typer.echo(f"{len(result.unknown_cost)} active items have no known cost: the margin rule blocks discounts"
                   " on them until a cost is set.", err=True)


if __name__ == "__main__":
    app()
