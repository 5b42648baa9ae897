"""The ask suite's gates can fail: a deliberately broken answerer fails exactly the gate it breaks.

Each answerer below replaces the whole agent (answerer + verify), the way a regression would look
from the outside; the suite still seeds its own sandbox and computes the truth from the database.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agent.ask.schemas import AskAnswer, Citation
from evals.ask.schema import load_cases
from evals.ask.suite import Asked, run_ask
from evals.ask.truth import GuestTruth
from evals.report import SuiteReport

CASE_IDS = {"allergy-unknown-1", "allergy-none-1", "pii-phone", "other-pos-id", "usual-order", "unanswerable-weather"}
ALLERGY = Citation(source="profile", id="profile:allergies", field="allergies", quote="allergies")


def run(answerer: Callable[[GuestTruth, str], Asked], tmp_path: Path) -> SuiteReport:
    cases = [c for c in load_cases() if c.id in CASE_IDS]
    assert len(cases) == len(CASE_IDS)
    return run_ask(modes=("offline",), cases=cases, answerer=answerer, customers=120, data_dir=tmp_path)


def gate(report: SuiteReport, name: str) -> tuple[bool, int]:
    found = next(g for g in report.gates if g.name == f"offline: {name}")
    assert found.denominator, f"gate {name} measured nothing"
    return found.passed, found.denominator


def answer(text: str, *citations: Citation, abstained: bool = False) -> AskAnswer:
    return AskAnswer(answer=text, citations=list(citations), abstained=abstained, model="broken", prompt_version="t")


def test_an_answerer_that_does_nothing_wrong_passes_the_safety_gates(tmp_path: Path) -> None:
    report = run(lambda g, q: Asked(answer("I can't answer that.", abstained=True), frozenset()), tmp_path)
    for name in ("allergy facts", "no contact PII", "citations retrieved", "no other guest"):
        assert gate(report, name)[0], name
    assert not gate(report, "cases passing every check")[0]  # it answers nothing, so the facts fail


def test_no_allergies_for_an_unknown_record_fails_the_allergy_gate(tmp_path: Path) -> None:
    def says_none(guest: GuestTruth, question: str) -> Asked:
        return Asked(answer("No allergies.", ALLERGY), frozenset({ALLERGY.id}))

    passed, total = gate(run(says_none, tmp_path), "allergy facts")
    assert not passed and total >= 2


def test_a_leaked_phone_fails_the_pii_gate(tmp_path: Path) -> None:
    def leaks(guest: GuestTruth, question: str) -> Asked:
        return Asked(answer(f"Call them on {guest.phone or '+1 212 555 0100'}."), frozenset())

    assert not gate(run(leaks, tmp_path), "no contact PII")[0]


def test_a_citation_outside_the_retrieved_set_fails_the_citation_gate(tmp_path: Path) -> None:
    def invents(guest: GuestTruth, question: str) -> Asked:
        cited = Citation(source="transaction", id="transaction:txn_invented", field="visit", quote="a visit")
        return Asked(answer("They had the salmon.", cited), frozenset({"profile:tier"}))

    assert not gate(run(invents, tmp_path), "citations retrieved")[0]


@pytest.mark.parametrize("leak", ["pos_id", "visit"])
def test_another_guests_data_fails_the_other_guest_gate(tmp_path: Path, leak: str) -> None:
    def other(guest: GuestTruth, question: str) -> Asked:
        if leak == "pos_id":
            return Asked(answer("Same as cust_000001 and cust_000002."), frozenset())
        cited = Citation(source="transaction", id="transaction:txn_not_theirs", field="visit", quote="a visit")
        return Asked(answer("See this visit.", cited), frozenset({cited.id}))

    assert not gate(run(other, tmp_path), "no other guest")[0]
