"""Street addresses and ZIP codes in free text: a Presidio recognizer (`StreetAddressRecognizer`).

Presidio ships no address recognizer and spaCy's `en_core_web_sm` tags at most the city (GPE/LOC,
which `guardrails.pii` ignores), so "lives at 42 Elm Street, Apt 3B" reached the model whole. The
shapes caught here, each a regex over the raw text:

* a house number, an optional direction, one to four capitalised name words (or an ordinal such as
  "5th") and a street suffix from the USPS list (Street/St, Avenue/Ave, Drive/Dr, ... Prairie,
  Mission: every suffix Faker's en_US addresses use), plus an optional unit ("Apt 3B", "#5",
  "Suite 200"), a leading UK flat ("flat 2, 10 Downing St") and a trailing city/state/ZIP;
* a house number and name words followed by a unit marker ("818 Brittany Prairie Apt. 299");
* after an address cue ("lives at", "address:", "deliver to", "ship to", ...): the same shapes with
  name words in any case ("lives at 42 elm street");
* PO boxes ("PO Box 77", "P.O. Box 77"), UK postcodes ("SW1A 2AA");
* `US_ZIP_CODE`: five digits (or ZIP+4) only after a state abbreviation ("IL 60611") or a
  "zip"/"postal code" cue, never a bare number, so years, prices and counts stay intact.

Cue words are part of the patterns rather than Presidio's `context` list: the context enhancer
matches lemmas, and `guardrails.pii` loads spaCy without the lemmatizer (it roughly halves the cost).
A number after "table", "party of", "room", ... never starts an address ("table 12 Garden View").
Every pattern is bounded (no nested unbounded repeats), so a 70,000-character note costs linear time.
"""

from __future__ import annotations

import re

from presidio_analyzer import LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

__all__ = ["ADDRESS_ENTITY", "ZIP_ENTITY", "StreetAddressRecognizer"]

ADDRESS_ENTITY = "STREET_ADDRESS"
ZIP_ENTITY = "US_ZIP_CODE"

# USPS street suffixes (Publication 28, appendix C1): the names, then the standard abbreviations that
# are not English words (only these may carry a dot: "Elm St." but "Elm Lane." keeps its full stop).
# Left out as too easily a word in a note: Is, Un, Pr, Br, Ky, Cp, Dl, Dm, Dv, Ml, Hl, Est, Vis.
_SUFFIX_NAMES = (
    "Alley Annex Arcade Avenue Bayou Beach Bend Bluff Bluffs Bottom Boulevard Branch Bridge Brook Brooks Burg "
    "Burgs Bypass Camp Canyon Cape Causeway Center Centers Circle Circles Cliff Cliffs Close Club Common "
    "Commons Corner Corners Course Court Courts Cove Coves Creek Crescent Crest Crossing Crossroad Curve Dale "
    "Dam Divide Drive Drives Estate Estates Expressway Extension Extensions Fall Falls Ferry Field Fields Flat "
    "Flats Ford Fords Forest Forge Forges Fork Forks Fort Freeway Garden Gardens Gateway Glen Glens Green "
    "Greens Grove Groves Harbor Harbors Haven Heights Highway Hill Hills Hollow Inlet Island Islands Isle "
    "Junction Junctions Key Keys Knoll Knolls Lake Lakes Land Landing Lane Light Lights Loaf Lock Locks Lodge "
    "Loop Mall Manor Manors Meadow Meadows Mews Mill Mills Mission Motorway Mount Mountain Mountains Neck "
    "Orchard Oval Overpass Park Parks Parkway Parkways Pass Passage Path Pike Pine Pines Place Plain Plains "
    "Plaza Point Points Port Ports Prairie Radial Ramp Ranch Rapid Rapids Rest Ridge Ridges River Road Roads "
    "Route Row Rue Run Shoal Shoals Shore Shores Skyway Spring Springs Spur Spurs Square Squares Station "
    "Stravenue Stream Street Streets Summit Terrace Throughway Trace Track Trafficway Trail Tunnel Turnpike "
    "Underpass Union Unions Valley Valleys Via Viaduct View Views Village Villages Ville Vista Walk Walks Wall "
    "Way Ways Well Wells"
).split()
_SUFFIX_ABBREVIATIONS = (
    "Aly Anx Av Ave Bch Blf Blvd Bnd Brg Brk Btm Byp Byu Cir Clb Clf Clfs Cor Cors Cres Crk Crse Crst Cswy "
    "Ct Ctr Cts Cv Cyn Cpe Dr Ests Expy Ext Fld Flds Fls Flt Frd Frg Frk Frst Ft Fwy Gdn Gdns Gln Grn Grv "
    "Gtwy Hbr Holw Hts Hvn Hwy Jct Knl Lck Ldg Lgt Lk Lndg Ln Mdws Mnr Msn Mt Mtn Mtwy Opas Orch Pkwy Pl "
    "Pln Plz Pnes Prt Psge Pt Radl Rd Rdg Riv Rnch Rte Shr Smt Spg Sq St Sta Stra Strm Ter Tpke Trak Trce "
    "Trfy Trl Trwy Tunl Upas Vlg Vly Vw Xing"
).split()


def _alternation(words: list[str]) -> str:
    return "|".join(sorted(set(words), key=lambda word: (-len(word), word)))


_SUFFIX = rf"(?i:(?:{_alternation(_SUFFIX_NAMES)})\b|(?:{_alternation(_SUFFIX_ABBREVIATIONS)})\b\.?)"
_STATES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC "
    "ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR"
).split()
_STATE = r"(?:" + "|".join(_STATES) + r")\b\.?"
_ZIP = r"\d{5}(?:-\d{4})?\b"
_UK_POSTCODE = r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b"

# A house number: not part of a price, percentage, decimal or date, not a table/party/room count and not
# a day of a month ("June 5 Central Park picnic").
_MONTHS = ("Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec January February March April May June July August "
           "September October November December").split()
_COUNT_WORDS = ("table", "tables", "party of", "room", "seat", "booth", "visit", "visits", "order", *_MONTHS)
_NOT_A_COUNT = "".join(rf"(?<!(?i:\b{re.escape(word)}{dot} ))" for word in _COUNT_WORDS for dot in ("", r"\."))
_NUMBER = r"(?<![\w$£€.,:/%#-])(?=\d)" + _NOT_A_COUNT + r"\d{1,6}(?:-\d{1,5})?[A-Za-z]?\b"
_DIRECTION = r"(?:(?:N|S|E|W|NE|NW|SE|SW)\.?|North|South|East|West)"
_ORDINAL = r"\d{1,3}(?:st|nd|rd|th)\b"
_CAPITAL_WORD = rf"(?:[A-Z][A-Za-z'’-]*\.?|{_ORDINAL})"
_ANY_WORD = rf"(?:[A-Za-z][A-Za-z'’-]*\.?|{_ORDINAL})"
_UNIT = r"(?i:apt|apartment|suite|ste|unit|flat|fl|floor|rm|#)\.?\s?#?\s?[A-Za-z]?\d{1,5}[A-Za-z]?\b"
_FLAT_PREFIX = r"(?:\b(?i:flat|apartment|apt|unit|suite)\.?\s?#?\s?[A-Za-z]?\d{1,5}[A-Za-z]?,?\s+)"
_CITY = r"[A-Z][a-z]+(?:\s[A-Z][a-z]+){0,2}"
# ", Chicago, IL 60611" / " IL 60611" / ", 60611" / " SW1A 2AA" after a street.
_TAIL = rf"(?:,?\s(?:{_CITY},?\s)?(?:{_STATE}(?:\s{_ZIP})?|{_ZIP}|{_UK_POSTCODE}))"
_CUE = (
    r"(?i:\blives? (?:at|on)|\bliving at|\bmoved to|\bhome (?:is )?at|\bhome address|\baddress(?: is)?:?"
    r"|\bdeliver(?:y|ies)? (?:to|at)|\bship(?:ping)? to|\bmail(?:ing)? to|\bsend (?:it |them )?to|\bdrop(?:-| )?off at)"
)


def _street(word: str) -> str:
    """House number, name words written as `word`, suffix, then an optional unit and city/state/ZIP."""
    return (
        rf"{_FLAT_PREFIX}?{_NUMBER}\s(?:{_DIRECTION}\s)?(?:{word}\s){{0,3}}{word}\s{_SUFFIX}"
        rf"(?:\s{_DIRECTION}\b\.?)?(?:,?\s{_UNIT})?{_TAIL}?"
    )


def _unit_address(word: str) -> str:
    """House number and name words followed by a unit: suffixes outside the list still end here."""
    return rf"{_FLAT_PREFIX}?{_NUMBER}\s(?:{word}\s){{0,3}}{word},?\s{_UNIT}{_TAIL}?"


# (entity, score, compiled pattern, group holding the value; 0 = the whole match)
_PATTERNS: tuple[tuple[str, float, re.Pattern[str], int], ...] = (
    (ADDRESS_ENTITY, 0.85, re.compile(_street(_CAPITAL_WORD)), 0),
    (ADDRESS_ENTITY, 0.85, re.compile(rf"{_NUMBER}\s(?:{_DIRECTION}\s)?Broadway\b(?:,?\s{_UNIT})?{_TAIL}?"), 0),
    (ADDRESS_ENTITY, 0.7, re.compile(_unit_address(_CAPITAL_WORD)), 0),
    (ADDRESS_ENTITY, 0.85, re.compile(rf"{_CUE}\s+({_street(_ANY_WORD)}|{_unit_address(_ANY_WORD)})"), 1),
    (ADDRESS_ENTITY, 0.9, re.compile(r"\b(?i:p\.?\s?o\.?\s?box|post office box)\s?#?\s?\d{1,7}\b"), 0),
    (ADDRESS_ENTITY, 0.6, re.compile(_UK_POSTCODE), 0),
    (ZIP_ENTITY, 0.8, re.compile(rf"\b{_STATE}\s({_ZIP})"), 1),
    (ZIP_ENTITY, 0.8, re.compile(rf"(?i:\bzip(?:\s?code)?|\bpostal code|\bpostcode)\s?(?:is\s)?:?\s?({_ZIP})"), 1),
)


class StreetAddressRecognizer(LocalRecognizer):
    """Street addresses (`STREET_ADDRESS`) and ZIP codes (`US_ZIP_CODE`), from the patterns above.

    A `LocalRecognizer` rather than a `PatternRecognizer` because the cue patterns report only the
    address after the cue (a regex group), and PatternRecognizer always reports the whole match
    (and matches case-insensitively, which would make every "2 kids all the way" a street).
    """

    def __init__(self) -> None:
        super().__init__(supported_entities=[ADDRESS_ENTITY, ZIP_ENTITY], name="StreetAddressRecognizer")

    def load(self) -> None:
        """Nothing to load: the patterns compile at import."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for entity, score, pattern, group in _PATTERNS:
            if entity not in entities:
                continue
            for match in pattern.finditer(text):
                start, end = match.span(group)
                end = start + len(text[start:end].rstrip(" ,"))
                results.append(RecognizerResult(entity, start, end, score))
        return results
