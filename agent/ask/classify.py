"""classify: what an associate's question asks, by deterministic patterns (no model, microseconds).

A question may ask several things ("any allergies, and what does she usually get?"); intents come
back in a fixed order, at most `MAX_INTENTS`. Two intents are refusals and win over the rest:
- `other_guest`: the question reaches for anyone but the guest whose POS id the associate opened
  (another id, "her husband", "the guest before"). Nothing else in such a question is answered.
- `contact_request`: name, phone, email, address. Refused; the rest of the question is answered.
Anything unmatched is `unsupported`, and the answer says plainly what can be answered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.ask.schemas import Intent

MAX_INTENTS = 3

_I = re.IGNORECASE
_PRONOUN = r"(she|he|they|her|him|them|this guest|the guest)"

OTHER_GUEST_RE = re.compile(
    r"\b(other|another|previous|next|last|different|any other|all( the)?|every) "
    r"(guest|customer|member|diner|person)s?\b"
    r"|\b(guests|customers|members|people) (like|before|after|who|that|at)\b"
    r"|\b(her|his|their) (husband|wife|partner|boyfriend|girlfriend|spouse|friend|friends|kids?|son|daughter|"
    r"mother|father|mum|mom|dad|family|colleague|boss|guest)\b"
    r"|\b(who else|someone else|somebody else|everyone|everybody|anybody else|anyone else|table \d+|"
    r"the guest (before|after)|list (all|the) (guests|customers))\b"
    r"|\b(look ?up|switch to|pull up|open) (customer|guest|member|id)\b",
    _I,
)
# Identifier-looking tokens (POS ids, pseudonyms, emails) other than the guest's own id.
ID_TOKEN_RE = re.compile(r"\b(?:cust|customer|guest|member|c|g)[_#-][A-Za-z0-9_-]*\d[A-Za-z0-9_-]*\b|#\d{3,}\b", _I)

CONTACT_RE = re.compile(
    r"\b(phone|cell|mobile|telephone|e-?mail address|address|postcode|zip ?code|surname|last name|first name|"
    r"full name|contact (details|info\w*|number)|where (does|do) " + _PRONOUN + r" live|"
    r"(her|his|their) (name|number|e-?mail|email|phone|home)|what('?s| is) (she|he|they|the guest) called|"
    r"who is (she|he)|call (her|him|them)|reach (her|him|them)|home address|social security|ssn|card number)\b",
    _I,
)

INTENT_PATTERNS: tuple[tuple[Intent, re.Pattern[str]], ...] = (
    (
        "allergies",
        re.compile(
            r"\b(allerg\w*|intoleran\w*|celiac|coeliac|dietary|diet|anaphyla\w*|epipen|"
            r"can " + _PRONOUN + r" (eat|have)|safe (for|to)|gluten|nuts?|peanuts?|shellfish|dairy|lactose|sesame|"
            r"soy|eggs?|wheat)\b",
            _I,
        ),
    ),
    (
        "usual_order",
        re.compile(
            r"\b(usual(ly)?|favou?rites?(?!\s+(colou?r|music|movie|film|song|band|team|sport|book|animal|flower|"
            r"holiday|place|city|artist|show|season))|always (gets?|orders?|has|have)|go-?to|regular order|"
            r"typically|normally|"
            r"tends? to (get|order|have)|what (does|do|did) "
            + _PRONOUN
            + r" (usually )?(order|get|like|eat|drink|have)|"
            r"what (does|do) " + _PRONOUN + r" like|most ordered|order the most)\b",
            _I,
        ),
    ),
    (
        "visits",
        re.compile(
            r"\b(last (visit|time|came|here|seen|in)|when (was|did|is|will) " + _PRONOUN + r"|how often|visits?|"
            r"visited|due|come (in|back|by)|coming (in|back)|next time|rhythm|frequen\w*|regular|lapsed|"
            r"churn\w*|expect\w*|haven'?t seen|been a while|seen "
            + _PRONOUN
            + r"|expected|how long since|comes? in)\b",
            _I,
        ),
    ),
    (
        "points",
        re.compile(r"\b(points?|tier|gold|silver|vip|status|rewards?|loyalty (level|status)|member level)\b", _I),
    ),
    ("birthday", re.compile(r"\b(birthday|b-?day|born|anniversary of birth)\b", _I)),
    (
        "offers",
        re.compile(r"\b(offers?|promos?|promotions?|coupons?|discounts?|codes?|deals?|vouchers?)\b", _I),
    ),
    (
        "channels",
        re.compile(
            r"\b(opt(ed)?[- ]?(in|out)|opted|consent\w*|subscri\w*|marketing|channels?|sms|texts?|newsletter|"
            r"can (we|i) (text|sms|e-?mail|message|contact)|e-?mails?)\b",
            _I,
        ),
    ),
    (
        "suggest",
        re.compile(
            r"\b(suggest\w*|recommend\w*|upsell|what (should|could|can) (i|we) (offer|push|pitch|bring|serve|"
            r"suggest)|something new|try today|pairing|pair with|what to offer)\b",
            _I,
        ),
    ),
    (
        "notes",
        re.compile(
            r"\b(notes?|anything (i|we) should know|heads[- ]up|remarks?|special requests?|comments?|"
            r"preferences?|know about (her|him|them))\b",
            _I,
        ),
    ),
    (
        "item_history",
        re.compile(
            r"\b(ever (had|ordered|tried|got|eaten|drunk)|(has|have|did) " + _PRONOUN + r" (ever )?"
            r"(had|tried|ordered|order|try|have|eat|drink)|anything with|tried the|ordered the|like the|"
            r"how many times|how often does " + _PRONOUN + r" (order|get|have))\b",
            _I,
        ),
    ),
    (
        "overview",
        re.compile(r"\b(tell me about|who is this|overview|summary|summari[sz]e|brief me|what do (we|you) know)\b", _I),
    ),
)


@dataclass(frozen=True)
class Classification:
    intents: tuple[Intent, ...]
    reason: str  # which rule decided, for the audit trail


def classify(question: str, *, own_ids: tuple[str, ...] = ()) -> Classification:
    """The intents of `question`; `own_ids` are the guest's own references (its POS id), which the
    question may name without being about someone else."""
    own = {i.lower() for i in own_ids if i}
    foreign_ids = [m.group(0) for m in ID_TOKEN_RE.finditer(question) if m.group(0).lower() not in own]
    if foreign_ids:
        return Classification(("other_guest",), "names another identifier")
    if OTHER_GUEST_RE.search(question):
        return Classification(("other_guest",), "asks about someone other than this guest")
    intents: list[Intent] = []
    if CONTACT_RE.search(question):
        intents.append("contact_request")
    for intent, pattern in INTENT_PATTERNS:
        if pattern.search(question) and intent not in intents:
            intents.append(intent)
    # "when is she due" is a visit question, "ever had X" is history, not a favourites question.
    if "item_history" in intents and "usual_order" in intents:
        intents.remove("usual_order")
    if not intents:
        return Classification(("unsupported",), "no known intent matched")
    return Classification(tuple(intents[:MAX_INTENTS]), "patterns: " + ", ".join(intents))
