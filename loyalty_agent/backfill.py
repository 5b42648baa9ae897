"""`loyalty-agent import FILE`: load past sales without deciding anything.

A merchant moving to us brings history; a POS outage leaves a gap to fill. Those sales must build the
guests' profiles and never message anyone, so they skip the inbox and the offer graph: each is checked
like a webhook sale (same `SaleCompleted` model, same totals and currency checks in `db.ingest`),
recorded once (a sale already there is a duplicate, so an import can be re-run), and afterwards the
touched merchants' profiles and vectors are rebuilt in one batch.

Formats (by extension):
- `.jsonl` / `.ndjson`: one `sale.completed` event per line, exactly the webhook's contract.
- `.csv`: one row per line item, header
  `transaction_id,occurred_at,location_id,customer_id,sku,name,quantity,unit_price[,currency][,total]`;
  rows of one `transaction_id` make one sale; `occurred_at` is ISO 8601 with an offset; prices are in
  currency units (12.50); `currency` defaults to the merchant's; `total` (what the guest paid for the
  menu, after discounts) defaults to the sum of the lines; `customer_id` may be empty (anonymous sale).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.events import SaleChecks, SaleCompleted
from db.ingest import IngestError, location_merchant, record_sale

BATCH = 200  # sales per database transaction
CSV_COLUMNS = ("transaction_id", "occurred_at", "location_id", "customer_id", "sku", "name", "quantity",
               "unit_price")


class BackfillFileError(ValueError):
    """The file cannot be read as a sales file at all (format, header)."""


@dataclass
class ImportReport:
    recorded: int = 0
    duplicates: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (where, why)
    merchants: set[str] = field(default_factory=set)

    @property
    def total(self) -> int:
        return self.recorded + self.duplicates + len(self.refused)


Parsed = tuple[str, SaleCompleted | None, str | None]  # (where in the file, sale, why it was refused)


def _refusal(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def read_jsonl(path: Path) -> Iterator[Parsed]:
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"line {number}"
            try:
                yield where, SaleCompleted.model_validate(json.loads(line)), None
            except json.JSONDecodeError as exc:
                yield where, None, f"not JSON: {exc.msg}"
            except ValidationError as exc:
                yield where, None, _refusal(exc)


def _cents(value: str, what: str) -> int:
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"{what} {value!r} is not a number") from None
    return int((amount * 100).to_integral_value())


def read_csv(path: Path, *, currency_of: Callable[[str], str | None]) -> Iterator[Parsed]:
    """Group the line rows into sales (first appearance order) and validate each as a webhook sale."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise BackfillFileError(f"{path.name}: missing CSV columns {', '.join(missing)}")
        sales: dict[str, dict[str, Any]] = {}
        problems: dict[str, str] = {}
        for number, row in enumerate(reader, start=2):
            txn = (row["transaction_id"] or "").strip()
            if not txn:
                yield f"row {number}", None, "transaction_id is empty"
                continue
            sale = sales.setdefault(txn, {"first_row": number, "row": row, "lines": [], "total": None})
            try:
                sale["lines"].append({"sku": row["sku"], "name": row["name"], "quantity": int(row["quantity"]),
                                      "price": row["unit_price"].strip(),
                                      "unit_price_cents": _cents(row["unit_price"], "unit_price")})
                if (row.get("total") or "").strip():
                    sale["total"] = _cents(row["total"], "total")
            except ValueError as exc:
                problems.setdefault(txn, f"row {number}: {exc}")
    for txn, sale in sales.items():
        where = f"row {sale['first_row']} ({txn})"
        if txn in problems:
            yield where, None, problems[txn]
            continue
        row = sale["row"]
        lines_cents = sum(li["unit_price_cents"] * li["quantity"] for li in sale["lines"])
        currency = (row.get("currency") or "").strip() or currency_of(row["location_id"]) or "USD"
        event = {
            "event": "sale.completed", "event_id": f"import:{txn}", "created_at": row["occurred_at"],
            "data": {"id": txn, "location_id": row["location_id"], "customer_id": (row["customer_id"] or "").strip()
                     or None, "line_items": [{k: li[k] for k in ("sku", "name", "quantity", "price")}
                                    for li in sale["lines"]],
                     "total_money": {"amount": sale["total"] if sale["total"] is not None else lines_cents,
                                     "currency": currency}},
        }
        try:
            yield where, SaleCompleted.model_validate(event), None
        except ValidationError as exc:
            yield where, None, _refusal(exc)


def read_sales(path: Path, engine: Engine) -> Iterator[Parsed]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return read_jsonl(path)
    if suffix == ".csv":
        def currency_of(location_id: str) -> str | None:
            with Session(engine) as session:
                where = location_merchant(session, location_id=location_id)
            return where.currency if where else None

        return read_csv(path, currency_of=currency_of)
    raise BackfillFileError(f"{path.name}: expected a .csv, .jsonl or .ndjson file")


def import_sales(engine: Engine, parsed: Iterator[Parsed], *, pseudonym_secret: str, checks: SaleChecks,
                 progress: Callable[[int], None] = lambda _n: None) -> ImportReport:
    """Record every valid sale once (BATCH per transaction, each sale in a savepoint so one refusal never
    undoes the others); no inbox event, no decision. `progress(n)` after each sale."""
    report = ImportReport()
    batch: list[Parsed] = []

    def flush() -> None:
        with Session(engine, expire_on_commit=False) as session:
            for where, sale, _ in batch:
                assert sale is not None
                try:
                    with session.begin_nested():
                        recorded = record_sale(session, sale=sale, event_id=sale.event_id,
                                               pseudonym_secret=pseudonym_secret, checks=checks)
                except IngestError as exc:
                    report.refused.append((where, str(exc)))
                else:
                    if recorded.created:
                        report.recorded += 1
                        report.merchants.add(recorded.merchant_id)
                    else:
                        report.duplicates += 1
                progress(1)
            session.commit()
        batch.clear()

    for item in parsed:
        where, sale, why = item
        if sale is None:
            report.refused.append((where, why or "invalid"))
            progress(1)
            continue
        batch.append(item)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return report
