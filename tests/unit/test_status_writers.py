"""One writer per lifecycle: only the owning module writes a stateful row's `status`.

Read from the source with `ast`: an assignment to `<x>.status`, an `UPDATE .. .values(status=...)` or a
row built with `status=...` anywhere in product code must sit in the module that owns that lifecycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("core", "db", "guardrails", "tools", "profiles", "prompts", "vectorstore", "agent", "api", "loyalty_agent")
# offer -> db/offers.py, inbox_event -> db/inbox.py, outbound_message -> tools/marketing/outbox.py,
# campaign and campaign_recipient -> db/campaigns.py
OWNERS = frozenset({"db/offers.py", "db/inbox.py", "tools/marketing/outbox.py", "db/campaigns.py"})


def status_writes(source: str) -> list[tuple[int, str]]:
    """(line, kind) of every place in `source` that writes a `status`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Attribute) and sub.attr == "status":
                        found.append((node.lineno, "assignment to .status"))
        if isinstance(node, ast.Call) and any(k.arg == "status" for k in node.keywords):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name == "values" or name in ("Offer", "InboxEvent", "OutboundMessage", "Campaign", "CampaignRecipient"):
                found.append((node.lineno, f"{name}(status=...)"))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr":
            if len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and node.args[1].value == "status":
                found.append((node.lineno, "setattr(.., 'status', ..)"))
    return found


def test_the_scanner_finds_each_kind_of_write() -> None:
    source = (
        "row.status = 'sent'\n"
        "session.execute(update(Offer).values(status='approved'))\n"
        "Offer(id='o', status='drafted')\n"
        "setattr(row, 'status', 'x')\n"
        "print(row.status)\n"
        "ToolMessage(content='x', status='error')\n"
    )
    assert sorted(line for line, _ in status_writes(source)) == [1, 2, 3, 4]


def test_only_the_lifecycle_modules_write_status() -> None:
    offenders = []
    for package in PRODUCT:
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel in OWNERS:
                continue
            offenders += [f"{rel}:{line} {kind}" for line, kind in status_writes(path.read_text())]
    assert offenders == [], "status written outside its lifecycle module:\n" + "\n".join(offenders)


def test_each_owner_does_write_status() -> None:
    # Guards the test itself: if an owner moved, the allow-list would silently cover nothing.
    for rel in OWNERS:
        assert status_writes((REPO / rel).read_text()), rel
