"""The offline answerer (the default): deterministic answers for the common intents, with citations.

Every sentence is built from retrieved facts and cites their ids, so the verify node can check the
answer like a model's. Rules it never bends:
- allergies are stated exactly as recorded (`agent.ask.allergy.allergy_statement`);
- no contact details, whatever the question asks; channel opt-ins are yes/no only;
- nothing about anyone but this guest;
- the staff note is quoted as untrusted data, never followed.
For anything else it says plainly what it can answer and abstains.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agent.ask.allergy import RECORDED, allergy_statement, allergy_status, display_allergen
from agent.ask.schemas import CAPABILITIES, REFUSAL_INTENTS, AnswerDraft, Fact
from core.tiers import TIERS

OFFLINE_MODEL_NAME = "offline"
# The version changes whenever this file's wording or rules change.
OFFLINE_VERSION = "ask-offline@" + hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:8]
CONTACT_REFUSAL = "I can't share contact details (name, phone, email or address) with associates."
OTHER_GUEST_REFUSAL = (
    "I can only answer about the guest whose POS id you opened; I can't look up or share anything about anyone else."
)
NOTE_PREFIX = "Staff note (unverified, as typed by staff, personal details removed): "
MIN_USUAL_VISITS = 3  # fewer visits are not a habit (profiles.features.MIN_RHYTHM_VISITS agrees)
_TIER_RE = re.compile(r"\b(silver|gold|vip)\b", re.IGNORECASE)


class FactBook:
    """The retrieved facts, by id and by field, recording which ones an answer used."""

    def __init__(self, facts: Sequence[Fact]) -> None:
        self.by_id = {fact.id: fact for fact in facts}
        self.cited: list[str] = []

    def get(self, fact_id: str) -> Fact | None:
        return self.by_id.get(fact_id)

    def field(self, name: str) -> list[Fact]:
        return [fact for fact in self.by_id.values() if fact.field == name]

    def value(self, fact_id: str, key: str) -> Any:
        fact = self.by_id.get(fact_id)
        return fact.value.get(key) if fact is not None and isinstance(fact.value, dict) else None

    def cite(self, *facts: Fact | None) -> None:
        for fact in facts:
            if fact is not None and fact.id not in self.cited:
                self.cited.append(fact.id)


Section = Callable[[FactBook, str], str]


def _usual_order(book: FactBook, _question: str) -> str:
    favourites = book.field("favourite_item")[:3]
    if not favourites:
        return "No visits are on record for this guest yet, so there is no usual order."
    book.cite(*favourites)
    total = book.value("profile:visits", "visits_total") or 0
    if total < MIN_USUAL_VISITS:
        return (
            f"Only {plural(total, 'visit')} on record, too few for a usual order. Ordered: "
            + ", ".join(f.value["name"] for f in favourites)
            + "."
        )
    parts = [f"{f.value['name']} (on {f.value['visits']} of {total} visits)" for f in favourites]
    text = "Usually orders: " + ", ".join(parts) + "."
    categories = book.get("profile:favourite_categories")
    if categories is not None:
        book.cite(categories)
        text += " Mostly " + ", ".join(c["name"] for c in categories.value[:2]) + "."
    return text


def _visits(book: FactBook, _question: str) -> str:
    summary = book.get("profile:visits")
    if summary is None:
        return "No visits are on record for this guest yet."
    book.cite(summary)
    v = summary.value
    last_fact = next(iter(book.field("last_visit")), None)
    book.cite(last_fact)
    # No digit may follow a date after a space or bracket: "2026-01-12 (20" reads as a phone number.
    text = f"Last visit: {v['last']}, {plural(round(v['days_since_last']), 'day')} ago"
    text += f": {last_fact.quote.split(': ', 1)[1]}." if last_fact is not None else "."
    rhythm = book.get("profile:visit_rhythm")
    if rhythm is not None:
        book.cite(rhythm)
        text += f" Comes in {rhythm.quote.removeprefix('visits ')}."
    expected = book.get("profile:expected_next_visit")
    if expected is not None:
        book.cite(expected)
        e = expected.value
        how = "from their visit rhythm" if e["basis"] == "rhythm" else "by the BG/NBD model"
        if e["overdue"] and e["due_by_rhythm"]:
            text += (
                f" Overdue: by their usual rhythm they were due on {e['due_by_rhythm']}; the next visit is now"
                f" expected around {e['date']} (computed {how})."
            )
        elif e["days_until"] <= 3:
            text += f" Due about now: next visit expected {e['date']} (computed {how})."
        else:
            text += (
                f" Not due yet: next visit expected {e['date']}, in {plural(e['days_until'], 'day')} (computed {how})."
            )
    text += f" {plural(v['visits_total'], 'visit')} since {v['first']}, {v['visits_12m']} in the last 12 months."
    return text


def _allergies(book: FactBook, _question: str) -> str:
    record = book.get("profile:allergies")
    assert record is not None  # always gathered
    book.cite(record)
    text = allergy_statement(record.value)
    recorded = {display_allergen(a) for a in record.value or []}
    for item in book.field("menu_item")[:3]:
        book.cite(item)
        listed = [display_allergen(a) for a in item.value["allergens"]]
        if not listed:
            text += f" {item.value['name']} lists no allergens in the catalog."
            continue
        text += f" {item.value['name']} lists {', '.join(listed)} in the catalog"
        clash = sorted(recorded & set(listed))
        if allergy_status(record.value) == RECORDED and clash:
            text += f"; {', '.join(clash)} is on the guest's record: do not serve it."
        else:
            text += "."
    note = book.get("note:staff")
    if note is not None and (note.value or {}).get("mentions_allergy"):
        book.cite(note)
        text += " A staff note mentions an allergy that is not on the record: confirm with the guest."
    return text


def _points(book: FactBook, question: str) -> str:
    tier, points, earned = book.get("profile:tier"), book.get("profile:points"), book.get("profile:points_earned")
    assert tier is not None and points is not None and earned is not None
    book.cite(tier, points)
    text = f"Tier: {tier_name(tier.value)}. Points balance: {points.value:,}."
    asked = _TIER_RE.search(question)
    target = asked.group(1).lower() if asked else None
    ladder = {f.value["tier"]: f for f in book.field("points_to_tier")}
    if target is not None and target not in ladder:
        if TIERS.index(target) <= TIERS.index(tier.value if tier.value in TIERS else "member"):
            text += f" Already {tier_name(tier.value)}, at or above {tier_name(target)}."
        return text
    goal = ladder.get(target) if target else next(iter(ladder.values()), None)
    if goal is None:
        return text + " Already in the top tier."
    book.cite(goal, earned)
    g = goal.value
    text += (
        f" {tier_name(g['tier'])} needs {g['threshold']:,} lifetime points: {g['to_go']:,} to go "
        f"({earned.value:,} earned so far)."
    )
    return text


def _birthday(book: FactBook, _question: str) -> str:
    fact = book.get("profile:birthday")
    assert fact is not None
    book.cite(fact)
    if fact.value is None:
        return "No birthday on record."
    b = fact.value
    month = fact.quote.split(" (")[0].removeprefix("birthday in ")
    if not b["this_month"]:
        return f"Birthday is not this month (it is in {month})."
    if b["days_until"] == 0:
        return "Birthday is today."
    if b["days_until"] is not None and b["days_until"] < 32:
        return f"Yes, birthday this month, in {b['days_until']} days."
    return "Birthday was earlier this month."


def _offers(book: FactBook, _question: str) -> str:
    offers = book.field("offer")
    if not offers:
        return "No open offers for this guest."
    book.cite(*offers)
    usable = [f for f in offers if f.value["usable"]]
    waiting = [f for f in offers if not f.value["usable"]]
    text = ""
    if usable:
        text += f"Ready to use ({len(usable)}): " + "; ".join(f.quote for f in usable) + "."
    if waiting:
        text += (" " if text else "") + f"Not usable yet ({len(waiting)}): " + "; ".join(f.quote for f in waiting) + "."
    return text


def _channels(book: FactBook, _question: str) -> str:
    consents = book.get("profile:consents")
    assert consents is not None
    book.cite(consents)
    c = consents.value
    if c["opted_out"]:
        return "Opted out of all messages (STOP): no SMS, no email."
    return (
        f"Opted in to SMS: {'yes' if c['sms'] else 'no'}; email: {'yes' if c['email'] else 'no'}; "
        f"alcohol marketing: {'yes' if c['alcohol_marketing'] else 'no'}."
    )


def _suggest(book: FactBook, _question: str) -> str:
    picks = book.field("suggestion")
    record, alcohol = book.get("profile:allergies"), book.get("profile:alcohol_eligibility")
    assert record is not None and alcohol is not None
    book.cite(record, alcohol)
    status = allergy_status(record.value)
    if status == RECORDED:
        names = ", ".join(display_allergen(a) for a in record.value)
        safety = f"Nothing with their recorded allergies ({names}) is suggested; confirm with the guest."
    elif status == "unknown":
        safety = "Allergies are unknown, so nothing with a top-9 allergen is suggested; ask the guest first."
    else:
        safety = "No allergies recorded; still ask the guest."
    if not alcohol.value["eligible"]:
        safety += " No alcohol: " + "; ".join(alcohol.value["reasons"]) + "."
    if not picks:
        return "Nothing on the menu passes this guest's filters today. " + safety
    book.cite(*picks)
    text = "Suggest: " + "; ".join(f"{p.value['name']} ({p.value['reason']})" for p in picks) + "."
    return f"{text} {safety}"


def _notes(book: FactBook, _question: str) -> str:
    note = book.get("note:staff")
    if note is None:
        return "No staff note on file."
    book.cite(note)
    text = f'{NOTE_PREFIX}"{note.quote}"'
    record = book.get("profile:allergies")
    if (note.value or {}).get("mentions_allergy") and record is not None:
        # A note is not a record: next to a note about allergies, say what the record says.
        book.cite(record)
        text += f" The note is not the allergy record. {allergy_statement(record.value)}"
    return text


def _item_history(book: FactBook, question: str) -> str:
    ordered = book.field("item_history")[:4]
    if ordered:
        book.cite(*ordered, *book.field("ordered_item"))
        return " ".join(f.quote[0].upper() + f.quote[1:] + "." for f in ordered)
    similar = book.field("similar_visit")
    if similar:
        book.cite(*similar)
        return (
            "No menu item matches that by name, so I can't say for sure. The guest's visits closest in meaning, "
            "from the purchase index: " + "; ".join(f.quote for f in similar) + "."
        )
    return ""


def _overview(book: FactBook, question: str) -> str:
    parts = [_points(book, ""), _visits(book, "") if book.get("profile:visits") else "No visits on record yet."]
    if book.field("favourite_item"):
        parts.append(_usual_order(book, ""))
    parts += [_allergies(book, ""), _channels(book, "")]
    return " ".join(parts)


SECTIONS: dict[str, Section] = {
    "usual_order": _usual_order,
    "visits": _visits,
    "allergies": _allergies,
    "points": _points,
    "birthday": _birthday,
    "offers": _offers,
    "channels": _channels,
    "suggest": _suggest,
    "notes": _notes,
    "item_history": _item_history,
    "overview": _overview,
}


def answer_offline(intents: Sequence[str], facts: Sequence[Fact], question: str) -> AnswerDraft:
    """The deterministic answer to `question` from `facts` (see the module docstring)."""
    book = FactBook(facts)
    if "other_guest" in intents:
        return _draft(OTHER_GUEST_REFUSAL, book, abstained=True)
    texts: list[str] = []
    if "contact_request" in intents:
        texts.append(CONTACT_REFUSAL)
        if "channels" not in intents:
            texts.append(_channels(book, question))
    for intent in intents:
        section = SECTIONS.get(intent)
        if section is not None:
            text = section(book, question)
            if text:
                texts.append(text)
    answered = [i for i in intents if i not in REFUSAL_INTENTS and i != "unsupported"]
    if not texts or (not answered and "contact_request" not in intents):
        return _draft(f"I can't answer that from this guest's records. {CAPABILITIES}", book, abstained=True)
    return _draft("\n".join(texts), book, abstained=not answered)


def tier_name(tier: str) -> str:
    return "VIP" if tier.lower() == "vip" else tier.capitalize()


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _draft(text: str, book: FactBook, *, abstained: bool) -> AnswerDraft:
    return AnswerDraft(
        answer=text,
        cited_ids=list(book.cited),
        abstained=abstained,
        model=OFFLINE_MODEL_NAME,
        prompt_version=OFFLINE_VERSION,
    )
