"""The per-key rate limiter's window and Retry-After, and how staff notes reach an associate."""

from __future__ import annotations

from agent.ask.fact_builders import note_fact, profile_facts, scrub_addresses
from agent.ask.schemas import AnswerDraft
from agent.ask.verify import verify_answer
from api.rate_limit import RateLimiter
from tests.unit.test_ask_offline import NOW, customer


def test_sliding_window_per_key() -> None:
    now = [1000.0]
    limiter = RateLimiter(3, window_s=60, clock=lambda: now[0])
    assert [limiter.hit("k1") for _ in range(3)] == [None, None, None]
    now[0] += 20
    assert limiter.hit("k1") == 40.0  # the oldest hit leaves the window in 40 s
    assert limiter.hit("k2") is None  # another key has its own window
    now[0] += 40
    assert limiter.hit("k1") is None
    assert RateLimiter(0).hit("k1") is None  # 0 disables the limit


def test_addresses_in_notes_are_removed_even_where_the_pseudonymizer_misses_them() -> None:
    assert scrub_addresses("Receipts to <EMAIL>; lives at 818 Brittany Prairie Apt. 299.") == (
        "Receipts to <EMAIL>; lives at <ADDRESS>.")
    assert scrub_addresses("ship to 696 Michael Vista Suite 924 please") == "ship to <ADDRESS> please"
    assert scrub_addresses("Prefers a booth by the window.") == "Prefers a booth by the window."
    assert "4235" not in note_fact("Receipts to <EMAIL>; lives at 4235 <PERSON_1>.", mentions_allergy=False).quote


def test_a_quoted_note_about_allergies_needs_the_record_next_to_it() -> None:
    note = note_fact("Allergic to nuts, call them at <PHONE> before the kitchen fires anything.",
                     mentions_allergy=True)
    facts = [*profile_facts(customer(None), today=NOW.date(), lifetime_points=0), note]

    def problems(text: str, cited: list[str]) -> list[str]:
        draft = AnswerDraft(answer=text, cited_ids=cited, model="m", prompt_version="v")
        return verify_answer(draft, facts=facts, allergies=None, known_values=(), own_pos_id="cust_7",
                             intents=["notes"]).problems

    assert problems(f"Staff note: {note.quote}", ["note:staff"])  # the note alone reads like a record
    assert problems(f"Staff note: {note.quote} Allergies: unknown, ask the guest.",
                    ["note:staff", "profile:allergies"]) == []
