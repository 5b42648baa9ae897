"""verify: an answer is only shown if it can be checked against what was retrieved for it.

Checks, each a plain function of the answer, the retrieved facts and the guest's record:
- citations: every cited id is among the facts retrieved for this question (no invented ids, no
  other guest's visits or offers);
- allergies and diet: any allergy statement cites the allergy record and matches it in its three
  states (unknown is never "no allergies"; none recorded is said as "recorded"; a list is stated
  whole, with nothing added); diet claims ("vegan", "gluten-free") have no record behind them;
- contact PII: no email, phone, card, street address, or any of this guest's own contact values
  (the guardrails' regex pre-scan `contains_raw_pii`);
- other guests: no POS id or pseudonym other than the guest's own POS id;
- untrusted text: no discount, freebie or instruction that is not a verbatim quote of a retrieved
  offer or note (an injected note cannot make the answer promise anything).
Text quoted verbatim from a cited note is data and is exempt from the claim checks, not from the
PII check.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agent.ask.allergy import (
    ALLERGY_TOPIC_RE,
    DIETARY_CLAIM_RE,
    NO_ALLERGY_CLAIM_RE,
    NONE_RECORDED,
    RECORDED,
    RECORDED_QUALIFIER_RE,
    UNKNOWN,
    UNKNOWN_MARKER_RE,
    allergens_in,
    allergy_status,
    canonical,
)
from agent.ask.classify import ID_TOKEN_RE
from agent.ask.schemas import CAPABILITIES, AnswerDraft, Fact
from core.allergens import TOP9_ALLERGENS
from guardrails.pii_scan import contains_raw_pii

PSEUDONYM_RE = re.compile(r"\bg_[0-9a-f]{8,}\b", re.IGNORECASE)
PROMISE_RE = re.compile(
    r"\b\d{1,3}(\.\d+)?\s?(%|percent)\s+off\b|\bfree\s+(bottle|meal|dessert|drink|item|round|glass|\w+)\b|"
    r"\badmin mode\b|\bignore (all |any |the )?(previous |prior )?instructions\b|\bon the house\b|\bcomp(ed|ing)?\b",
    re.IGNORECASE,
)
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+|\n+")
MAX_ANSWER_CHARS = 2000


@dataclass(frozen=True)
class Verification:
    passed: bool
    problems: list[str]


def verify_answer(
    draft: AnswerDraft,
    *,
    facts: Sequence[Fact],
    allergies: list[str] | None,
    known_values: Sequence[str],
    own_pos_id: str,
    intents: Sequence[str],
) -> Verification:
    """Run every check; `passed` only when no check found a problem."""
    by_id = {fact.id: fact for fact in facts}
    problems: list[str] = []
    text = draft.answer.strip()
    if not text:
        problems.append("empty answer")
    if len(text) > MAX_ANSWER_CHARS:
        problems.append(f"answer longer than {MAX_ANSWER_CHARS} characters")
    problems += check_citations(draft.cited_ids, by_id)
    problems += check_contact_pii(text, known_values)
    problems += check_other_guests(text, own_pos_id)
    cited = [by_id[i] for i in draft.cited_ids if i in by_id]
    claims = strip_verbatim_quotes(text, cited).replace(CAPABILITIES, " ")
    # A quoted note that speaks of allergies must come with what the record says (a note is not a record).
    note_about_allergies = any(
        f.source == "note" and (f.value or {}).get("mentions_allergy") and f.quote in text for f in cited
    )
    # An abstention need not answer the allergy question, but anything it says is still checked.
    problems += check_allergy_claims(
        claims,
        cited=draft.cited_ids,
        allergies=allergies,
        must_state_record=not draft.abstained and ("allergies" in intents or note_about_allergies),
        abstained=draft.abstained,
    )
    problems += check_promises(claims)
    return Verification(passed=not problems, problems=problems)


def check_citations(cited: Sequence[str], by_id: dict[str, Fact]) -> list[str]:
    return [f"citation {c!r} is not among the retrieved facts" for c in cited if c not in by_id]


def check_contact_pii(text: str, known_values: Sequence[str]) -> list[str]:
    return [f"contact PII in the answer: {label}" for label in contains_raw_pii(text, known_values)]


def check_other_guests(text: str, own_pos_id: str) -> list[str]:
    problems = [f"names a pseudonym ({m.group(0)[:4]}…)" for m in PSEUDONYM_RE.finditer(text)]
    own = own_pos_id.lower()
    problems += [
        f"names another guest id {m.group(0)!r}" for m in ID_TOKEN_RE.finditer(text) if m.group(0).lower() != own
    ]
    return problems


def strip_verbatim_quotes(text: str, cited: Sequence[Fact]) -> str:
    """`text` without verbatim quotes of cited notes and offers (data, not the answer's own claims)."""
    for fact in cited:
        if fact.source in ("note", "offer") and fact.quote:
            text = text.replace(fact.quote, " ")
    return text


def check_allergy_claims(
    text: str,
    *,
    cited: Sequence[str],
    allergies: list[str] | None,
    must_state_record: bool,
    abstained: bool = False,
) -> list[str]:
    """The answer's allergy and diet statements against the record. An abstention that merely
    mentions allergies ("ask me about allergies") need not cite the record or restate it; any claim
    it makes is still checked."""
    problems: list[str] = []
    record = canonical(allergies or [])
    vocabulary = set(TOP9_ALLERGENS) | record
    status = allergy_status(allergies)
    sentences = [s for s in _SENTENCE_RE.split(text) if s.strip()]
    topical = [s for s in sentences if ALLERGY_TOPIC_RE.search(s)]
    if DIETARY_CLAIM_RE.search(text):
        problems.append("dietary claim that no record backs")
    if must_state_record and not topical:
        problems.append("allergy record not stated (an allergy question, or a quoted note about allergies)")
    if not topical and not NO_ALLERGY_CLAIM_RE.search(text) and not must_state_record:
        return problems
    if "profile:allergies" not in cited and not abstained:
        problems.append("allergy statement without citing the allergy record")
    for sentence in sentences:
        claim = NO_ALLERGY_CLAIM_RE.search(sentence)
        if claim is None:
            continue
        if status != NONE_RECORDED or not RECORDED_QUALIFIER_RE.search(sentence):
            problems.append(f"claims no allergies ({claim.group(0)!r}) but the record says {status}")
    if status == UNKNOWN and not abstained and not any(UNKNOWN_MARKER_RE.search(s) for s in topical):
        problems.append("allergies are unknown but the answer does not say so")
    named: set[str] = set()
    for sentence in topical:
        named |= allergens_in(sentence, vocabulary)
    extra = sorted(named - record)
    if extra:
        problems.append(f"names allergies not on the record: {', '.join(extra)}")
    if status == RECORDED and must_state_record:
        missing = sorted(record - named)
        if missing:
            problems.append(f"leaves out recorded allergies: {', '.join(missing)}")
    if status == NONE_RECORDED and must_state_record and not any(
        NO_ALLERGY_CLAIM_RE.search(s) and RECORDED_QUALIFIER_RE.search(s) for s in topical
    ):
        problems.append("does not say that no allergies are recorded")
    return problems


def check_promises(text: str) -> list[str]:
    return [f"promise or instruction not backed by a retrieved fact: {m.group(0)!r}" for m in PROMISE_RE.finditer(text)]
