#!/usr/bin/env bash
# Issue 14 "Done when", reproduced end to end on the sandbox (see README.md beside this file):
# fresh SQLite database in a temp dir -> seed -> sandbox test clock -> `serve` (API + worker) on a free port ->
# a next-visit and a win-back campaign planned over HTTP (marketer), approved (manager), run by the worker ->
# `simulate --days N` (guests respond; their sales, with codes, come back as signed webhooks) -> both reports
# (JSON + PNG), the campaigns' counts, the simulation's true effects, and read-only checks on the database:
# the holdout got nothing, no sent offer broke a rule, every redemption came in through a signed sale, and
# each report's 95 % interval covers the true uplift.
#
# Usage (from a checkout with .venv installed):  docs/issue14/run.sh
# Knobs (environment): CUSTOMERS (26000), DAYS (14), HOLDOUT_PCT (30), OUT (docs/issue14), VENV (.venv),
#                      KEEP_WORK=1 keeps the temp dir (database, server log).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${OUT:-$REPO/docs/issue14}
VENV=${VENV:-$REPO/.venv}
PY="$VENV/bin/python"
CUSTOMERS=${CUSTOMERS:-26000}
DAYS=${DAYS:-14}
HOLDOUT_PCT=${HOLDOUT_PCT:-30}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/issue14.XXXXXX")
mkdir -p "$OUT"
cd "$REPO"

# A fresh, self-contained environment: nothing from the caller's DATABASE_URL, .env or data/ is used.
export PYTHONPATH="$REPO"  # this checkout's code, whatever the venv's editable install points at
export DATA_DIR="$WORK" DATABASE_URL="sqlite:///$WORK/loyalty.db" POLICY_FILE="$WORK/policy.yaml"
export POS_WEBHOOK_SECRET="issue14-pos-secret" PSEUDONYM_SECRET="issue14-pseudonyms"
export LLM_PROVIDER=offline INDEX_ON_START=false CAMPAIGN_POLL_INTERVAL_S=5
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
unset QDRANT_URL SQUARE_ACCESS_TOKEN POS_PROVIDER MARKETING_PROVIDER 2>/dev/null || true
# As in tests/integration/test_campaign_simulation.py: no tier is "high value" and the value threshold is above
# a campaign offer, so offers go out unless a rule blocks them (escalations would wait for a person).
cat >"$POLICY_FILE" <<'YAML'
escalation: {min_confidence: 0.45, high_value_tiers: [], offer_value_threshold_cents: 1500}
YAML

LA=(nice -n 10 "$PY" -m loyalty_agent)
log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
SERVER_PID=""
cleanup() {
  local rc=$?
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true  # serve stops its worker processes with itself
    for _ in $(seq 60); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.5; done
  fi
  if [[ $rc -ne 0 ]]; then
    log "FAILED (exit $rc); server log tail:"; tail -n 40 "$WORK/serve.log" >&2 2>/dev/null || true
    log "work dir kept: $WORK"
  elif [[ "${KEEP_WORK:-0}" == 1 ]]; then
    log "work dir kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT

START=$(date +%s)
log "work dir $WORK; $CUSTOMERS guests, $DAYS days, holdout $HOLDOUT_PCT %"
"${LA[@]}" seed --customers "$CUSTOMERS" >&2
"${LA[@]}" simulate --days 0 >/dev/null  # the sandbox's test clock: the day its seeded history ends
MARKETER=$("${LA[@]}" apikey create --role marketer --name issue14-marketer)
MANAGER=$("${LA[@]}" apikey create --role manager --name issue14-manager)

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
"${LA[@]}" serve --host 127.0.0.1 --port "$PORT" --workers 1 >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for i in $(seq 120); do
  curl -fsS "$URL/healthz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { log "serve exited"; exit 1; }
  [[ $i -eq 120 ]] && { log "serve did not answer /healthz in 120 s"; exit 1; }
  sleep 1
done
log "serve (API + worker) up at $URL (pid $SERVER_PID)"

# The HTTP part and the checks: one small Python program (stdlib only), so every step fails loudly.
"$PY" - "$URL" "$MARKETER" "$MANAGER" "$OUT" "$WORK" "$DAYS" "$HOLDOUT_PCT" "${LA[*]}" <<'PY'
import json, sqlite3, subprocess, sys, time, urllib.error, urllib.request
from pathlib import Path

url, marketer, manager, out, work, days, holdout_pct, la = sys.argv[1:9]
out, work = Path(out), Path(work)
MARKETER = {"Authorization": f"Bearer {marketer}"}
MANAGER = {"Authorization": f"Bearer {manager}"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {msg}", file=sys.stderr, flush=True)


def call(method: str, path: str, headers: dict, body: object = None, raw: bool = False, ok=(200,)):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={**headers, **({"content-type": "application/json"} if data else {})})
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            status, payload = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    if status not in ok:
        sys.exit(f"{method} {path} -> {status}: {payload[:500]!r}")
    return payload if raw else json.loads(payload)


def wait_status(cid: str, wanted: str, timeout_s: float, bad: tuple = ()) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        c = call("GET", f"/campaigns/{cid}", MARKETER)
        if c["status"] == wanted:
            return c
        if c["status"] in bad:
            sys.exit(f"campaign {cid} is {c['status']}, not {wanted}: {json.dumps(c)[:800]}")
        if time.monotonic() > deadline:
            sys.exit(f"campaign {cid} still {c['status']} after {timeout_s:.0f} s (wanted {wanted})")
        time.sleep(3)


bodies = {
    "next_visit": {"name": "Next visit: your usual, 5 days before", "kind": "next_visit",
                   "audience": {"rule": {"days_before": 5}}, "holdout_pct": float(holdout_pct),
                   "channel": "auto", "window_days": int(days)},
    "win_back": {"name": "Win-back: lapsing regulars", "kind": "win_back", "audience": {"rule": {}},
                 "holdout_pct": float(holdout_pct), "channel": "auto", "window_days": int(days)},
}
ids: dict[str, str] = {}
for kind, body in bodies.items():
    # 201 with the plan (synchronous planning) or 202 `planning` (planned by the worker): both end pending_approval.
    created = call("POST", "/campaigns", MARKETER, body, ok=(201, 202))
    ids[kind] = created["id"]
    log(f"{kind}: POST /campaigns -> {created['id']} ({created['status']})")
    # A marketer may not approve (403): approval is the manager's.
    plan = wait_status(created["id"], "pending_approval", 600, bad=("planning_failed", "cancelled"))
    call("POST", f"/campaigns/{created['id']}/approve", MARKETER, {"version": plan["version"]}, ok=(403,))
    approved = call("POST", f"/campaigns/{created['id']}/approve", MANAGER, {"version": plan["version"]})
    assert approved["status"] == "approved", approved
    log(f"{kind}: audience {plan['audience_size']} (treatment {plan['treatment_size']}, holdout "
        f"{plan['holdout_size']}), approved by the manager (a marketer's approval was 403)")

for kind, cid in ids.items():  # the worker's campaign loop (every CAMPAIGN_POLL_INTERVAL_S) runs them
    done = wait_status(cid, "completed", 1500, bad=("cancelled",))
    log(f"{kind}: run by the worker: {json.dumps(done['counts'])}")

log(f"simulate --days {days} (sales as signed webhooks to {url})")
sim = subprocess.run([*la.split(), "simulate", "--days", days, "--url", url], capture_output=True, text=True)
(work / "simulate.log").write_text(sim.stdout + sim.stderr)
if sim.returncode:
    sys.exit(f"simulate failed ({sim.returncode}):\n{sim.stderr[-3000:]}\n{sim.stdout[-2000:]}")
result = json.loads(sim.stdout[sim.stdout.index("{"):])
days_lines = [line for line in sim.stdout.splitlines() if line[:2] == "20" and ": " in line]
log(f"simulate: {result['sales_sent']} sales over {len(days_lines)} days; clock {result['clock']}")
truth = {t["campaign_id"]: t for t in result["true_effects"]}
(out / "simulate.json").write_text(json.dumps({**result, "days": days_lines}, indent=1) + "\n")

# Read-only look at the database for what the API does not show: holdout untouched, rules kept, redemptions
# through signed sales (each redeemed code's sale was recorded from a webhook inbox event).
db = sqlite3.connect(f"file:{work / 'loyalty.db'}?mode=ro", uri=True)


def one(sql: str, *args: object) -> int:
    return int(db.execute(sql, args).fetchone()[0])


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def pts(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f}"


def table_rows(kind: str, report: dict, true: dict) -> list[str]:
    """Markdown rows: one per metric, with both arms' n and rates, the uplift and its interval, the truth."""
    g, power = report["groups"], report["power"]
    rows = []
    for metric, label in (("visit_rate", "visit"), ("redemption_rate", "redemption")):
        up, tr = report["uplift"][metric], true[metric]["uplift"]
        low, high = up["ci95"]
        relative = "n/a" if up.get("relative") is None else f"{100 * up['relative']:+.0f}%"
        rows.append(
            f"| {kind} | {label} | {g['treatment']['n']} / {g['holdout']['n']} "
            f"| {pct(g['treatment']['redemption_rate'])} / {pct(g['holdout']['redemption_rate'])} "
            f"| {pct(g['treatment']['visit_rate'])} / {pct(g['holdout']['visit_rate'])} "
            f"| {pts(up['absolute'])} pts [{pts(low)}, {pts(high)}] "
            f"| {relative} "
            f"| {'yes' if power['underpowered'] else 'no'} ({pct(power['power'])}) "
            f"| {pts(tr)} pts | {'yes' if low <= tr <= high else '**no**'} |")
    return rows


campaigns, summary, failures = {}, [], []
for kind, cid in ids.items():
    campaigns[kind] = c = call("GET", f"/campaigns/{cid}", MARKETER)
    report = call("GET", f"/campaigns/{cid}/report", MARKETER)
    (out / f"{kind}.report.json").write_text(json.dumps(report, indent=1) + "\n")
    png = call("GET", f"/campaigns/{cid}/report.png", MARKETER, raw=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "report.png is not a PNG"
    (out / f"{kind}.report.png").write_bytes(png)
    t = truth.get(cid) or sys.exit(f"simulate printed no true effect for {kind} ({cid})")
    checks = {
        "holdout_offers": one("SELECT count(*) FROM offer o JOIN campaign_recipient r ON r.customer_id = o.customer_id "
                              "AND r.campaign_id = o.campaign_id WHERE o.campaign_id = ? AND r.arm = 'holdout'", cid),
        "holdout_messages": one("SELECT count(*) FROM outbound_message m JOIN offer o ON o.id = m.offer_id "
                                "JOIN campaign_recipient r ON r.customer_id = o.customer_id AND r.arm = 'holdout' "
                                "AND r.campaign_id = o.campaign_id WHERE o.campaign_id = ?", cid),
        "holdout_codes": one("SELECT count(*) FROM promo_code p JOIN campaign_recipient r ON r.customer_id = "
                             "p.customer_id AND r.arm = 'holdout' AND r.campaign_id = ? JOIN offer o ON o.id = "
                             "p.offer_id AND o.campaign_id = ?", cid, cid),
        "sent_offers": one("SELECT count(*) FROM offer WHERE campaign_id = ? AND status = 'sent'", cid),
        "sent_offers_with_a_block_verdict": one(
            "SELECT count(*) FROM offer o, json_each(o.verdicts) v WHERE o.campaign_id = ? AND o.status = 'sent' "
            "AND json_extract(v.value, '$.verdict') = 'block'", cid),
        "codes_redeemed": one("SELECT count(*) FROM promo_redemption x JOIN promo_code p ON p.id = x.promo_code_id "
                              "JOIN offer o ON o.id = p.offer_id WHERE o.campaign_id = ? AND x.outcome = 'redeemed'",
                              cid),
        "codes_redeemed_through_signed_pos_webhooks": one(
            "SELECT count(*) FROM promo_redemption x JOIN promo_code p ON p.id = x.promo_code_id JOIN offer o "
            "ON o.id = p.offer_id JOIN pos_transaction s ON s.id = x.transaction_id JOIN inbox_event e ON "
            "e.id = s.source_event_id WHERE o.campaign_id = ? AND x.outcome = 'redeemed' AND e.provider = 'pos' "
            "AND e.event_type = 'sale.completed'", cid),
    }
    rules_ok = (checks["holdout_offers"] == checks["holdout_messages"] == checks["holdout_codes"] == 0
                and checks["sent_offers"] > 0 and checks["sent_offers_with_a_block_verdict"] == 0
                and checks["codes_redeemed"] == checks["codes_redeemed_through_signed_pos_webhooks"]
                == report["groups"]["treatment"]["redeemed"] > 0 and report["groups"]["holdout"]["redeemed"] == 0
                and c["status"] == "completed" and report["window"]["complete"] and not report["srm"]["mismatch"])
    if not rules_ok:
        failures.append(f"{kind}: end-to-end checks failed: {checks}")
    row = {"kind": kind, "campaign_id": cid, "checks": checks}
    for metric in ("visit_rate", "redemption_rate"):
        up, true = report["uplift"][metric], t[metric]["uplift"]
        low, high = up["ci95"]
        covered = low <= true <= high
        row[metric] = {"uplift": up["absolute"], "ci95": [low, high], "relative": up.get("relative"),
                       "true_uplift": true, "covered": covered}
        print(f"{kind:10s} {metric:15s} report uplift {up['absolute']:+.4f}  95% CI [{low:+.4f}, {high:+.4f}]  "
              f"true {true:+.4f}  -> {'covered' if covered else 'NOT COVERED'}")
        if not covered:
            failures.append(f"{kind} {metric}: true {true:+.4f} outside [{low:+.4f}, {high:+.4f}]")
    row["table"] = table_rows(kind, report, t)
    summary.append(row)

keep = ("id", "name", "kind", "status", "version", "audience", "holdout_pct", "channel", "window_days",
        "audience_size", "treatment_size", "holdout_size", "global_control_size", "estimated_cost", "not_eligible",
        "created_by", "approved_by", "approved_version", "started_at", "completed_at", "counts")
small = {kind: {**{k: c.get(k) for k in keep}, "sample_drafts": len(c.get("sample_drafts") or []),
                "sample_draft_verdicts": [s.get("verdict") for s in c.get("sample_drafts") or []]}
         for kind, c in campaigns.items()}
(out / "campaigns.json").write_text(json.dumps(small, indent=1) + "\n")
(out / "checks.json").write_text(json.dumps(summary, indent=1) + "\n")
header = ["| campaign | metric | n treatment / holdout | redemption rate T / H | visit rate T / H "
          "| uplift, 95% CI (Newcombe) | relative lift | underpowered (power at 5 pts) | true uplift | covered |",
          "|---|---|---|---|---|---|---|---|---|---|"]
(out / "summary.md").write_text("\n".join(header + [r for row in summary for r in row["table"]]) + "\n")
print("\n".join(header + [r for row in summary for r in row["table"]]))
if failures:
    sys.exit("NOT DONE:\n" + "\n".join(failures))
print("all checks passed: approved, sent within every rule, holdout untouched, redemptions through signed sales, "
      "every 95% interval covers the true uplift")
PY
log "done in $(( $(date +%s) - START )) s; evidence in $OUT"
