"""No contact PII of any sandbox guest reaches any text sent to a model.

The whole sandbox (every guest with history) goes through the real prompt construction: features,
pseudonymized profile document, staff notes through Presidio, the drafter's system + user messages.
Every contact value (given and family names, emails, phones) and every card-like number written in
staff notes must be absent from all of it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agent.context import AgentContext
from agent.llm import render_user_message
from agent.offline_drafter import OfflineDrafter
from agent.retrieval import build_draft_input
from db.tables import Customer, CustomerContact, PosTransaction
from guardrails.policy import default_policy
from profiles.features import compute_features
from profiles.fit import load_all_visits
from prompts import load_prompt
from sandbox.seed import seed_database
from tests.integration.conftest import make_settings
from tools.pos.sandbox import SandboxPos

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
CARD_LIKE = re.compile(r"\b(?:\d[ -]?){13,19}\b")


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


class NotesReadingDrafter(OfflineDrafter):
    """Stands for a model drafter: it reads staff notes, so they are pseudonymized into its input."""

    reads_staff_notes = True


def test_no_contact_pii_in_any_prompt(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pii.db'}"
    from db.engine import make_engine, migrate

    migrate(url)
    engine: Engine = make_engine(url)
    seed_database(engine, customers=400, months=12, seed=42)
    settings = make_settings(url, tmp_path)
    ctx = AgentContext(settings=settings, engine=engine, policy=default_policy(), drafter=NotesReadingDrafter(),
                       pos=SandboxPos(engine), clock=lambda: NOW)
    with Session(engine) as s:
        contacts = {c.customer_id: c for c in s.exec(select(CustomerContact)).all()}
        customers = {c.id: c for c in s.exec(select(Customer)).all()}
        visits = load_all_visits(s, merchant_id="m_sandbox")
        last_txn = dict(s.exec(select(PosTransaction.customer_id, PosTransaction.id)
                               .where(col(PosTransaction.customer_id).is_not(None))
                               .order_by(col(PosTransaction.occurred_at))).all())
    system = load_prompt("drafter_system").text
    model = ctx.merchant_model("m_sandbox")
    prompts: dict[int, str] = {}
    notes_seen = 0
    for cid, customer_visits in visits.items():
        features = compute_features(customer_visits, model=model, now=NOW, customer_id=cid)
        inp = build_draft_input(ctx, merchant_id="m_sandbox", customer_id=cid, transaction_id=last_txn.get(cid),
                                features=features)
        notes_seen += inp.staff_notes_pseudonymized is not None
        prompts[cid] = system + "\n" + render_user_message(inp)
    assert len(prompts) >= 300 and notes_seen >= 50, (len(prompts), notes_seen)

    everything = "\n".join(prompts.values())
    everything_digits = _digits(everything)
    leaks: list[str] = []
    for cid, contact in contacts.items():
        for value in (contact.email,):
            if value and value.lower() in everything.lower():
                leaks.append(f"email of customer {cid}")
        if contact.phone and len(_digits(contact.phone)) >= 7 and _digits(contact.phone)[-7:] in everything_digits:
            leaks.append(f"phone of customer {cid}")
        for name in (contact.given_name, contact.family_name):
            # Names can be common words in a menu ("Rose", "Sage"): check the guest's own prompt, by word.
            if name and len(name) >= 3 and cid in prompts and re.search(rf"\b{re.escape(name)}\b", prompts[cid]):
                if not re.search(rf"\b{re.escape(name)}\b", system + _menu_text(prompts[cid], name)):
                    leaks.append(f"name {name!r} of customer {cid}")
        for card in CARD_LIKE.findall(contact.notes or ""):
            if len(_digits(card)) >= 13 and _digits(card) in everything_digits:
                leaks.append(f"card-like number in notes of customer {cid}")
    assert not leaks, leaks[:20]
    assert customers  # the sandbox really was there

    # The offline drafter decides on facts alone: its input carries no notes and Presidio is not run.
    offline = replace(ctx, drafter=OfflineDrafter())
    with_notes = [cid for cid, c in contacts.items() if c.notes and cid in visits][:5]
    misses = ctx.get_pseudonymizer().cache_misses
    ctx.get_pseudonymizer().clear_cache()
    for cid in with_notes:
        inp = build_draft_input(offline, merchant_id="m_sandbox", customer_id=cid, transaction_id=last_txn.get(cid),
                                features=None)
        assert inp.staff_notes_pseudonymized is None
    assert with_notes and ctx.get_pseudonymizer().cache_misses == misses


def _menu_text(prompt: str, name: str) -> str:
    """The parts of a prompt that are catalog/menu lines (a guest named 'Rose' vs 'Rose wine')."""
    return "\n".join(line for line in prompt.splitlines() if " | " in line)
