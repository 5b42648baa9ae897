"""The street-address recognizer on its own (regexes only, no spaCy model loaded).

The tables here are the examples the whole pseudonymizer is held to as well
(tests/integration/test_pii_presidio.py runs them through Presidio with the real model, and shows
they leak without this recognizer).
"""

from __future__ import annotations

import time

import pytest
from faker import Faker

from guardrails.pii_address import ADDRESS_ENTITY, ZIP_ENTITY, StreetAddressRecognizer
from sandbox.menu import MENU

# (note, {value that must be found: entity}). Each value is reported exactly, no more and no less.
ADDRESS_NOTES: list[tuple[str, dict[str, str]]] = [
    ("Lives at 42 Elm Street, Apt 3B with her sister.", {"42 Elm Street, Apt 3B": ADDRESS_ENTITY}),
    ("deliver to 1200 N. Lake Shore Dr #5 before 6", {"1200 N. Lake Shore Dr #5": ADDRESS_ENTITY}),
    ("Catering invoices go to PO Box 77.", {"PO Box 77": ADDRESS_ENTITY}),
    ("mail the voucher to P.O. Box 1234 please", {"P.O. Box 1234": ADDRESS_ENTITY}),
    ("UK visitor, flat 2, 10 Downing St when in town", {"flat 2, 10 Downing St": ADDRESS_ENTITY}),
    ("home zip 60611, drives in on Sundays", {"60611": ZIP_ENTITY}),
    ("Office in Chicago, IL 60611-2034.", {"60611-2034": ZIP_ENTITY}),
    ("lives at 42 elm street apt 3b", {"42 elm street apt 3b": ADDRESS_ENTITY}),
    ("Receipts by mail; lives at 818 Brittany Prairie Apt. 299.", {"818 Brittany Prairie Apt. 299": ADDRESS_ENTITY}),
    ("Neighbour at 55 Johnson Ports, walks over.", {"55 Johnson Ports": ADDRESS_ENTITY}),
    ("Works at 350 5th Ave, New York, NY 10118 (the Empire State).",
     {"350 5th Ave, New York, NY 10118": ADDRESS_ENTITY}),
    ("moved to 77 Massachusetts Ave NW, Washington, DC 20001", {"77 Massachusetts Ave NW, Washington, DC 20001":
                                                                ADDRESS_ENTITY}),
    ("Her studio is 1585 Broadway, 3rd floor.", {"1585 Broadway": ADDRESS_ENTITY}),
    ("ship to 696 Michael Vista Suite 924 please", {"696 Michael Vista Suite 924": ADDRESS_ENTITY}),
    ("home address is 4 Privet Drive", {"4 Privet Drive": ADDRESS_ENTITY}),
    ("London flat: 221B Baker Street, London NW1 6XE", {"221B Baker Street, London NW1 6XE": ADDRESS_ENTITY}),
    ("postal code: 94110", {"94110": ZIP_ENTITY}),
]

# Notes that hold numbers, capitalised words and street-suffix words but no address: untouched.
CLEAN_NOTES: list[str] = [
    "Likes table 12 by the window.",
    "Comes with 2 kids, party of 4 most Fridays.",
    "Used the 10% off code; allergic to peanuts since 2019.",
    "Visits every 3 weeks around 7 pm, orders the $12.50 lunch special.",
    "comes with 2 kids all the way from Evanston",
    "Table 12 Garden View side is her favourite.",
    "Booked party of 6 Harbor View room for the anniversary.",
    "Orders 2 Espresso Martinis and 1 Key Lime Pie.",
    "tips 20% on a $45.00 check at 7:30 pm",
    "Birthday on 2026-03-14, party of 8; seat 3 Park side.",
    "Prefers booth 3 by the window; 2-3 espresso martinis.",
    "Gave us 5 stars on Yelp, mentioned Lake Shore Drive traffic.",
    "Won the 2024 Street Food award; loves the 3 Course Dinner.",
    "Calls 2 days ahead; drives 40 minutes each way.",
    "On June 5 Central Park picnic, then Oct. 12 Tahoe Lake trip; back for Dec 3 Harbor View brunch.",
]


def _found(text: str) -> dict[str, str]:
    results = StreetAddressRecognizer().analyze(text, [ADDRESS_ENTITY, ZIP_ENTITY])
    return {text[r.start : r.end]: r.entity_type for r in results}


@pytest.mark.parametrize(("note", "expected"), ADDRESS_NOTES)
def test_addresses_are_found_exactly(note: str, expected: dict[str, str]) -> None:
    found = _found(note)
    # Overlapping shapes may each report a part; the pseudonymizer keeps the longest, which is `expected`.
    longest = {value: entity for value, entity in found.items()
               if not any(value != other and value in other for other in found)}
    assert longest == expected


@pytest.mark.parametrize("note", CLEAN_NOTES)
def test_notes_without_an_address_are_left_alone(note: str) -> None:
    assert _found(note) == {}


def test_menu_orders_are_not_addresses() -> None:
    """Every sandbox menu item ordered by count, capitalised as on the menu: no address found."""
    notes = [f"Always orders {count} {item.name} for the table." for item in MENU for count in (1, 2, 12)]
    flagged = [note for note in notes if _found(note)]
    assert flagged == []
    assert len(notes) == 3 * len(MENU) > 30


def test_every_faker_street_address_is_found_whole() -> None:
    """The sandbox's notes ("Receipts to ...; lives at {street}.") use Faker's en_US street addresses, which
    draw from almost every USPS suffix ("818 Brittany Prairie Apt. 299"); with and without the cue, each is
    found whole and the sentence's full stop stays outside it."""
    fake = Faker("en_US")
    fake.seed_instance(2026)
    streets = {fake.street_address() for _ in range(400)}
    missed = []
    for street in streets:
        for note in (f"Receipts by mail; lives at {street}.", f"Neighbour, {street}, walks over."):
            if street not in _found(note):
                missed.append(note)
    assert missed == []
    assert len(streets) > 350


def test_only_requested_entities_are_reported() -> None:
    recognizer = StreetAddressRecognizer()
    text = "lives at 42 Elm Street, zip 60611"
    assert {r.entity_type for r in recognizer.analyze(text, [ZIP_ENTITY])} == {ZIP_ENTITY}
    assert {r.entity_type for r in recognizer.analyze(text, [ADDRESS_ENTITY])} == {ADDRESS_ENTITY}
    assert recognizer.analyze(text, ["PERSON"]) == []


@pytest.mark.parametrize("hostile", ["1 " * 35_000, "12 Ab Cd Ef Gh " * 5_000, "lives at 1 a a a a " * 3_700])
def test_long_hostile_notes_cost_linear_time(hostile: str) -> None:
    """70,000-character runs built from the patterns' own pieces: a bounded pass, not a backtracking blow-up
    (about 0.1 s CPU each on the 2-core box; the bound is generous for a busy machine)."""
    start = time.process_time()
    StreetAddressRecognizer().analyze(hostile, [ADDRESS_ENTITY, ZIP_ENTITY])
    assert time.process_time() - start < 2.0
