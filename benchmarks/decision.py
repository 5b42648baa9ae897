"""Event -> decision latency, non-model overhead, and our graph vs a prebuilt ReAct agent.

Part A (offline drafter, the embedded default): N sandbox sales run through the full offer graph
(real SQLite, embedded Qdrant, real MiniLM embeddings, SQLite checkpointer): p50/p95 per event and
the part of it that is not the drafter.

Part B (same scripted model for both, an OpenAI-compatible server on loopback speaking the real
Chat Completions wire format): the job is "draft an offer for this guest and make sure it passes
the merchant's rules". Both see the same user message and make the same single grounding read
(`lookup_catalog`).
  - ours: the model drafts (read, then `submit_offer`); the rules run deterministically after it.
  - ReAct (`langgraph.prebuilt.create_react_agent`): the same read tool plus the rules exposed as a
    `check_offer_rules` tool; it reads, checks its draft, then answers with the offer.
Reported per event: model calls, tokens (messages + tool schemas of every request + replies, the same
~4 characters/token estimate for both designs), wall time of the run (the ReAct agent is built per
guest before the timed region).

    python -m benchmarks.decision [--customers 400] [--events 200] [--model-events 25] [--postgres] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROW = re.compile(r"^([A-Z0-9][A-Z0-9-]+) \| (\w+) \| (\d+) \| (\d+) \| ([^|]*) \| (yes|no) \| (.+)$", re.M)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


def scripted_offer(body: dict[str, Any]) -> dict[str, Any]:
    """What the scripted model proposes: 10% off the highest-margin non-alcohol main it was shown."""
    text = "\n".join(str(m.get("content") or "") for m in body.get("messages", []) if m.get("role") == "user")
    rows = [m for m in ROW.finditer(text) if m.group(6) == "no"]
    if not rows:
        return {"make_offer": False, "rationale": "nothing eligible"}
    best = max(rows, key=lambda m: (m.group(2) == "mains", int(m.group(4))))
    name = best.group(7).strip()[:30]
    return {"make_offer": True, "offer_type": "percent_off_item", "sku": best.group(1), "discount_pct": 10,
            "expires_in_days": 14, "channel": "sms", "confidence": 0.8, "strategy": "favourite",
            "sms_text": f"Hi {{first_name}}, 10% off {name} on your next visit: code {{promo_code}}. "
                        "Reply STOP to opt out",
            "email_subject": "A little thank-you", "rationale": "high-margin main"}


def torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


class DecisionCounts:
    """Deterministic cost of the decisions run while `on`: SQL statements and commits on the engine,
    checkpoints and pending-write batches saved by the LangGraph checkpointer."""

    def __init__(self, engine: Any, checkpointer: Any) -> None:
        from sqlalchemy import event

        self.on = False
        self.n = {"statements": 0, "commits": 0, "checkpoints": 0, "checkpoint writes": 0}

        def count(key: str) -> Any:
            def bump(*_a: Any, **_k: Any) -> None:
                if self.on:
                    self.n[key] += 1
            return bump

        event.listen(engine, "before_cursor_execute", count("statements"))
        event.listen(engine, "commit", count("commits"))
        for method, key in (("put", "checkpoints"), ("put_writes", "checkpoint writes")):
            original, bump = getattr(checkpointer, method), count(key)

            def wrapped(*a: Any, _original: Any = original, _bump: Any = bump, **k: Any) -> Any:
                _bump()
                return _original(*a, **k)

            setattr(checkpointer, method, wrapped)

    def per_decision(self, decisions: int) -> str:
        return ", ".join(f"{v / max(1, decisions):.1f} {k}" for k, v in self.n.items())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--customers", type=int, default=400)
    p.add_argument("--events", type=int, default=200,
                   help="part A decisions per pass. Enough that the indexer's embedding overlaps them: it waits for "
                        "a pause of up to 2 s before embedding, so a pass of 60 back-to-back decisions (under 2 s) "
                        "finished before the first embedding began and measured an idle indexer")
    p.add_argument("--model-events", type=int, default=25, help="part B events (0: skip part B)")
    p.add_argument("--profile", action="store_true", help="print where part A's decision time goes (cProfile)")
    p.add_argument("--postgres", action="store_true", help="part A on a throwaway PostgreSQL database "
                   "(BENCH_DATABASE_URL or TEST_DATABASE_URL) with the Postgres checkpointer, not SQLite")
    p.add_argument("--skip-idle", action="store_true", help="skip part A's second pass with the indexer idle")
    p.add_argument("--embedding-threads", type=int, default=None,
                   help="torch threads of the embedder (EMBEDDING_THREADS; default: the worker process's, the usable "
                        "cores at most 4, less one left to the decisions)")
    p.add_argument("--ab-embedding-threads", type=int, default=None, metavar="N",
                   help="part A's first pass alternates blocks of 10 decisions between the embedder's thread count "
                        "and N, and prints the latency of each side by side")
    args = p.parse_args()

    from agent.checkpointer import make_checkpointer
    from agent.context import AgentContext
    from agent.indexing import reindex_all
    from agent.llm import OfflineDrafter, OpenAIDrafter
    from agent.retrieval import build_draft_input, guardrail_context
    from agent.runner import OfferAgent
    from core.events import SaleCompleted
    from core.gc_tuning import freeze_startup_heap
    from core.schemas import OfferDraft
    from core.settings import Settings
    from db.engine import get_engine, migrate, session_scope
    from db.inbox import enqueue_event
    from db.ingest import record_sale
    from db.tables import InboxEvent
    from guardrails.engine import evaluate
    from guardrails.policy import default_policy
    from loyalty_agent.processes import worker_process_settings
    from sandbox.replay import sample_sales
    from sandbox.seed import seed_database
    from tests.integration.scripted_openai import ScriptedOpenAIServer, text_reply, tool_call, tool_calls_reply
    from tools.pos.sandbox import SandboxPos
    from vectorstore.factory import get_embedder, get_vector_store

    tmp = Path(tempfile.mkdtemp(prefix="decision-bench-"))
    database_url, drop = "", None
    if args.postgres:
        import atexit

        from benchmarks.load import pg_database

        base = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
        if not base:
            print("PostgreSQL: skipped (set BENCH_DATABASE_URL or TEST_DATABASE_URL)")
            return
        database_url, drop = pg_database(base)
        atexit.register(drop)
    threads = {"embedding_threads": args.embedding_threads} if args.embedding_threads else {}
    # The worker process's own settings (its embedder threads), as `serve` runs it.
    settings = worker_process_settings(Settings(data_dir=tmp, database_url=database_url, pos_webhook_secret="x",
                                                pseudonym_secret="y", **threads))
    migrate(settings.database_url)
    engine = get_engine(settings.database_url)
    t0 = time.perf_counter()
    seed_database(engine, customers=args.customers, months=12, seed=3)
    reindex_all(settings)
    print(f"setup: seeded {args.customers} customers and indexed them in {time.perf_counter() - t0:.1f}s")

    timings: dict[str, float] = {"draft": 0.0}

    class TimedOffline(OfflineDrafter):
        def draft(self, inp: Any, *, context: Any = None) -> Any:
            t = time.perf_counter()
            try:
                return super().draft(inp, context=context)
            finally:
                timings["draft"] += time.perf_counter() - t

    embedder = get_embedder(settings)
    store = get_vector_store(settings, dim=embedder.dim)
    from agent.indexing import VectorIndexer

    indexer = VectorIndexer(store=store, embedder=embedder)
    embed_spans: list[tuple[float, float]] = []  # when the indexer was embedding (perf_counter)

    class SpanRecordingEmbedder:
        """The indexer's embedder, noting when it runs (to tell which decisions it overlapped)."""

        dim = embedder.dim

        def embed(self, texts: list[str]) -> Any:
            started = time.perf_counter()
            try:
                return embedder.embed(texts)
            finally:
                embed_spans.append((started, time.perf_counter()))

    indexer.embedder = SpanRecordingEmbedder()  # type: ignore[assignment]
    ctx = AgentContext(settings=settings, engine=engine, policy=default_policy(), drafter=TimedOffline(),
                       pos=SandboxPos(engine), vector_store=store, embedder=embedder, indexer=indexer)
    agent = OfferAgent(ctx, make_checkpointer(settings.database_url, str(tmp)))
    now = datetime.now(UTC)
    sales = [s for s in sample_sales(engine, count=args.events * 2, seed=9, now=now) if s["data"].get("customer_id")]
    sales = sales[: args.events]

    def ingest(sale: dict[str, Any]) -> tuple[InboxEvent, Any]:
        parsed = SaleCompleted.model_validate(sale)
        with session_scope(engine) as s:
            eid = enqueue_event(s, provider="pos", provider_event_id=parsed.event_id, event_type=parsed.event,
                                payload=json.loads(json.dumps(sale))).event_id
            recorded = record_sale(s, sale=parsed, event_id=eid, pseudonym_secret="y",
                                   checks=settings.sale_checks)
            event = s.get(InboxEvent, eid)
        return event, recorded  # type: ignore[return-value]

    totals, model_part, outcomes = [], [], []
    spans: list[tuple[float, float]] = []  # each decision's (start, end)
    ctx.merchant_model("m_sandbox")  # fitted once per process, like the worker
    ctx.get_pseudonymizer()  # loaded at start, like the worker (agent.runner.make_offer_runner)
    freeze_startup_heap()  # as run_worker_process does once its start-up is done
    import cProfile
    import pstats

    counts = DecisionCounts(engine, agent.graph.checkpointer)
    profiler = cProfile.Profile() if args.profile else None
    import torch

    threads_as_set = torch.get_num_threads()
    by_threads: dict[int, list[float]] = {}
    for i, sale in enumerate(sales):
        if args.ab_embedding_threads:  # blocks of 10 decisions, alternately on each thread count
            torch.set_num_threads(args.ab_embedding_threads if (i // 10) % 2 else threads_as_set)
        event, recorded = ingest(sale)
        timings["draft"] = 0.0
        if profiler is not None:
            profiler.enable()
        counts.on = True
        t = time.perf_counter()
        outcomes.append(agent.run_event(event, recorded))
        totals.append(time.perf_counter() - t)
        spans.append((t, t + totals[-1]))
        by_threads.setdefault(torch.get_num_threads(), []).append(totals[-1])
        counts.on = False
        if profiler is not None:
            profiler.disable()
        model_part.append(timings["draft"])
    torch.set_num_threads(threads_as_set)
    # The same decisions on other sales with the indexer idle: each one starts after the previous sale's
    # vectors are written (flush, untimed), so no embedding shares the CPUs with it.
    idle_totals, idle_cpu = [], []
    if not args.skip_idle:
        idle_sales = [s for s in sample_sales(engine, count=args.events * 2, seed=11, now=now)
                      if s["data"].get("customer_id")][: args.events]
        for sale in idle_sales:
            event, recorded = ingest(sale)
            indexer.flush()
            t, cpu = time.perf_counter(), time.process_time()
            agent.run_event(event, recorded)
            idle_totals.append(time.perf_counter() - t)
            idle_cpu.append(time.process_time() - cpu)  # nothing else runs in the process meanwhile
    if profiler is not None:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(r"/work/main/(agent|db|tools|guardrails|profiles|vectorstore)/|"
                                                   r"checkpoint|sqlite3|psycopg", 50)
        stats.sort_stats("tottime").print_stats(25)
    overhead = [a - b for a, b in zip(totals, model_part, strict=True)]
    indexer.flush()
    print(f"\nA. event -> decision, offline drafter, {engine.dialect.name}, {len(totals)} events "
          f"(outcomes: {dict((o, outcomes.count(o)) for o in set(outcomes))})")
    print(f"   latency p50 {pct(totals, 50):.1f} ms, p95 {pct(totals, 95):.1f} ms  (goal p95 < 50 ms); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"   drafter p50 {pct(model_part, 50):.2f} ms; non-model overhead p50 {pct(overhead, 50):.1f} ms, "
          f"p95 {pct(overhead, 95):.1f} ms")
    print(f"   background vector indexing (beside the decisions, as in the worker): {indexer.done} jobs in "
          f"{indexer.batches} batches, {1000 * indexer.busy_s / max(1, indexer.done):.1f} ms per job "
          f"(embed profile + visit docs, upsert; torch threads {torch_threads()})")
    overlaps = [any(s < b and a < e for s, e in embed_spans) for a, b in spans]
    overlapped = [total for total, hit in zip(totals, overlaps, strict=True) if hit]
    alone = [total for total, hit in zip(totals, overlaps, strict=True) if not hit]
    print(f"   decisions overlapping an embedding: {len(overlapped)} of {len(totals)}"
          + (f" (p50 {pct(overlapped, 50):.1f} ms, p95 {pct(overlapped, 95):.1f} ms)" if overlapped else "")
          + (f"; the others p50 {pct(alone, 50):.1f} ms, p95 {pct(alone, 95):.1f} ms" if alone else ""))
    if len(by_threads) > 1:
        print("   by the embedder's torch threads (alternating blocks of 10 decisions): " + "; ".join(
            f"{n} thread(s) p50 {pct(v, 50):.1f} ms, p95 {pct(v, 95):.1f} ms" for n, v in sorted(by_threads.items())))
    if idle_totals:
        print(f"   with the indexer idle (vectors flushed before each decision, {len(idle_totals)} other sales): "
              f"p50 {pct(idle_totals, 50):.1f} ms, p95 {pct(idle_totals, 95):.1f} ms; process CPU per decision "
              f"p50 {pct(idle_cpu, 50):.1f} ms, p95 {pct(idle_cpu, 95):.1f} ms")
    print(f"   per decision (mean): {counts.per_decision(len(totals))}")

    # ---------------------------------------------------------------- B. same scripted model, two designs
    if args.model_events <= 0:
        return
    def ours_responder(body: dict[str, Any]) -> Any:
        has_results = any(m.get("role") == "tool" for m in body.get("messages", []))
        offer = scripted_offer(body)
        if not has_results:
            return tool_calls_reply(tool_call("lookup_catalog", {"sku": offer.get("sku") or "X"}))
        return tool_calls_reply(tool_call("submit_offer", offer))

    def react_responder(body: dict[str, Any]) -> Any:
        tool_msgs = [m for m in body.get("messages", []) if m.get("role") == "tool"]
        offer = scripted_offer(body)
        if not tool_msgs:
            return tool_calls_reply(tool_call("lookup_catalog", {"sku": offer.get("sku") or "X"}))
        if len(tool_msgs) == 1:
            return tool_calls_reply(tool_call("check_offer_rules", {"offer_json": json.dumps(offer)}))
        return text_reply(json.dumps(offer))

    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI
    from langgraph.prebuilt import create_react_agent
    from pydantic import SecretStr

    from agent.llm import render_user_message
    from agent.read_tools import build_read_tools
    from prompts import load_prompt

    def rules_tool(customer_id: int) -> Any:  # the rules as a tool, for the ReAct design
        @tool
        def check_offer_rules(offer_json: str) -> str:
            """Check a drafted offer (OfferDraft JSON) against the merchant's rules."""
            offer = OfferDraft.model_validate_json(offer_json)
            report = evaluate(guardrail_context(ctx, offer=offer, merchant_id="m_sandbox", customer_id=customer_id,
                                                location_id=None, offer_id=None))
            return report.model_dump_json(include={"verdict"})

        return check_offer_rules

    model_sales = [s for s in sample_sales(engine, count=args.model_events * 2, seed=13, now=now)
                   if s["data"].get("customer_id")][: args.model_events]
    inputs = []
    for sale in model_sales:
        _, recorded = ingest(sale)
        inputs.append((recorded, build_draft_input(ctx, merchant_id="m_sandbox", customer_id=recorded.customer_id,
                                                   transaction_id=recorded.transaction_id, features=None)))
    from agent.read_tools import context_from_draft_input

    def run_design(name: str, server: Any, chat: Any, drafter: Any, recorded: Any, inp: Any) -> tuple[int, int, float]:
        """(model calls, tokens, wall) of one event. Tokens are what the model is billed for: the messages
        AND the tool schemas of every request (estimated alike for both designs), plus the replies.
        The ReAct agent's construction (per guest: its tools are bound to the guest) happens before the
        timed region; only the run is timed, as for ours."""
        from benchmarks.ask import tokens_sent

        requests0, served0, (_tin0, tout0) = len(server.requests), len(server.served), server.usage_totals()
        react = None
        if name == "react":
            tools = [t_ for t_ in build_read_tools(context_from_draft_input(inp)) if t_.name == "lookup_catalog"]
            react = create_react_agent(chat, [*tools, rules_tool(recorded.customer_id)],
                                       prompt=load_prompt("drafter_system").text)
        t = time.perf_counter()
        if react is None:
            result = drafter.draft(inp)
            evaluate(guardrail_context(ctx, offer=result.offer, merchant_id="m_sandbox",
                                       customer_id=recorded.customer_id, location_id=None, offer_id=None))
        else:
            out = react.invoke({"messages": [("user", render_user_message(inp))]})
            OfferDraft.model_validate_json(out["messages"][-1].content)
        wall = time.perf_counter() - t
        _tin, tout = server.usage_totals()
        messages, schemas = tokens_sent(server.requests[requests0:])
        return len(server.served) - served0, messages + schemas + (tout - tout0), wall

    results: dict[str, dict[str, list[float]]] = {n: {"calls": [], "tokens": [], "wall": []} for n in ("ours", "react")}
    with ScriptedOpenAIServer(responder=ours_responder) as ours_server, \
            ScriptedOpenAIServer(responder=react_responder) as react_server:
        setup: dict[str, tuple[Any, Any, Any]] = {}
        for name, server in (("ours", ours_server), ("react", react_server)):
            chat = ChatOpenAI(model="scripted-model", base_url=server.base_url, api_key=SecretStr("x"),
                              max_retries=0, timeout=30, use_responses_api=False)
            setup[name] = (server, chat, OpenAIDrafter(chat_model=chat, model_name="scripted-model",
                                                       fallback=OfflineDrafter()))
        for name in ("ours", "react"):  # warm-up: connections, imports, first compile
            run_design(name, *setup[name], *inputs[0])
        # Alternate which design goes first so machine noise hits both alike.
        for i, (recorded, inp) in enumerate(inputs):
            for name in (("ours", "react") if i % 2 == 0 else ("react", "ours")):
                calls, tokens, wall = run_design(name, *setup[name], recorded, inp)
                results[name]["calls"].append(calls)
                results[name]["tokens"].append(tokens)
                results[name]["wall"].append(wall)
    print(f"\nB. draft + rule checks with the same scripted model, {len(inputs)} events (per event, mean; tokens ="
          " messages + tool schemas + replies, ~4 chars/token for both)")
    print(f"   {'design':<34}{'model calls':>12}{'tokens':>10}{'wall ms p50':>13}")
    for name, label in (("ours", "ours (draft, deterministic rules)"), ("react", "prebuilt ReAct (rules as tool)")):
        r = results[name]
        print(f"   {label:<34}{statistics.mean(r['calls']):>12.1f}{statistics.mean(r['tokens']):>10.0f}"
              f"{pct(r['wall'], 50):>13.1f}")
    o, r = results["ours"], results["react"]
    print(f"   ratio ReAct/ours: calls {statistics.mean(r['calls']) / statistics.mean(o['calls']):.2f}x, "
          f"tokens {statistics.mean(r['tokens']) / statistics.mean(o['tokens']):.2f}x, "
          f"wall {statistics.median(r['wall']) / statistics.median(o['wall']):.2f}x")


if __name__ == "__main__":
    main()
