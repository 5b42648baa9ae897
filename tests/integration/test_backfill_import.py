"""`loyalty-agent import FILE` (a subprocess, as a merchant runs it): past sales from CSV or JSONL are recorded
once, refused rows say why and leave the rest in, nothing is decided (no inbox event, no offer, no
message), a re-run changes nothing, and the profiles and vectors of the touched guests are rebuilt."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from db.engine import get_engine
from db.tables import CatalogItem, Customer, InboxEvent, Location, Offer, OutboundMessage, PosTransaction
from tests.integration.live_serve import Deployment, seeded_deployment


def _run(dep: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loyalty_agent", "import", *args], env=dep.env(),
                          cwd=dep.data_dir.parent, capture_output=True, text=True, timeout=300)


def _count(session: Session, table: type, *where: object) -> int:
    return int(session.execute(select(func.count()).select_from(table).where(*where)).scalar_one())  # type: ignore[arg-type]


def test_import_csv_and_jsonl_backfill_without_deciding(tmp_path: Path) -> None:
    dep = seeded_deployment(tmp_path / "data", customers=20, months=3)
    engine = get_engine(dep.database_url)
    with Session(engine) as session:
        location = session.execute(select(Location)).scalars().first()
        items = list(session.execute(select(CatalogItem).order_by(col(CatalogItem.sku)).limit(3)).scalars())
        regular = session.execute(select(Customer)).scalars().first()
        assert location is not None and regular is not None
        before = _count(session, PosTransaction)
    when = datetime.now(UTC) - timedelta(days=200)

    csv_path = tmp_path / "history.csv"
    with csv_path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["transaction_id", "occurred_at", "location_id", "customer_id", "sku", "name", "quantity",
                    "unit_price"])
        for n in range(5):
            at = (when + timedelta(days=7 * n)).isoformat()
            guest = regular.pos_customer_id if n % 2 == 0 else f"cust_backfill_{n}"
            for item in items[:2]:
                w.writerow([f"bf_{n}", at, location.id, guest, item.sku, item.name, 1,
                            f"{item.price_cents / 100:.2f}"])
        w.writerow(["bf_bad", when.isoformat(), location.id, "", items[0].sku, items[0].name, 1, "12.505"])

    r = _run(dep, str(csv_path), "--no-index")
    assert r.returncode == 0, r.stderr
    assert "5 sales recorded, 0 already there, 1 refused" in r.stdout, r.stdout
    assert "refused row 12 (bf_bad): data.line_items.0.price" in r.stderr, r.stderr

    again = _run(dep, str(csv_path), "--no-index")
    assert "0 sales recorded, 5 already there, 1 refused" in again.stdout, again.stdout

    jsonl = tmp_path / "history.jsonl"
    sale: dict[str, Any] = {
            "event": "sale.completed", "event_id": "evt_bf_json", "created_at": (when - timedelta(days=30)).isoformat(),
            "data": {"id": "bf_json", "location_id": location.id, "customer_id": regular.pos_customer_id,
                     "line_items": [{"sku": items[2].sku, "name": items[2].name, "quantity": 2,
                                     "price": items[2].price_cents / 100}],
                     "total_money": {"amount": 2 * items[2].price_cents, "currency": "USD"}}}
    wrong_total = {**sale, "data": {**sale["data"], "id": "bf_json_bad",
                                    "total_money": {"amount": 1, "currency": "USD"}}}
    jsonl.write_text(json.dumps(sale) + "\n" + "not json\n" + json.dumps(wrong_total) + "\n")
    r = _run(dep, str(jsonl))  # with the vector rebuild
    assert r.returncode == 0, r.stderr
    assert "1 sales recorded, 0 already there, 2 refused" in r.stdout, r.stdout
    assert "refused line 2: not JSON" in r.stderr and "refused line 3:" in r.stderr
    assert "profiles and vectors rebuilt for" in r.stdout

    with Session(engine) as session:
        assert _count(session, PosTransaction) == before + 6
        assert _count(session, InboxEvent) == 0  # nothing went through the inbox: nothing was decided
        assert _count(session, Offer) == 0 and _count(session, OutboundMessage) == 0
        assert _count(session, PosTransaction, col(PosTransaction.customer_id) == regular.id,
                      col(PosTransaction.pos_transaction_id).like("bf_%")) == 4

    from vectorstore.edge_backend import EdgeVectorStore
    from vectorstore.embeddings import LOCAL_MODEL_DIM

    with EdgeVectorStore(dep.data_dir / "qdrant") as store:
        store.ensure_collections(LOCAL_MODEL_DIM)
        assert regular.id is not None
        profile = store.get_profile(regular.id, merchant_id=location.merchant_id)
        assert profile is not None and profile.payload["visits_12m"] >= 0
