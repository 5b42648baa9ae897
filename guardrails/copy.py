"""Copy compliance: what the guest would read must be sendable, truthful and safe.

Format (channel copy only): the channel's copy exists; SMS fits the policy's length after placeholders
are expanded to their reserved widths (GSM-7, or UCS-2 when a character needs it; see
guardrails.policy.SmsPolicy) and carries the opt-out text; email subjects stay short. Content (every
copy field present, since a reviewer may switch channel): plain text only, no markup (SMS and email
alike: the providers send text, and a tag or an entity in a guest's message is either noise or an
injection); only the {first_name} and {promo_code} placeholders; no raw PII; no percent, price,
points, expiry or "free"/BOGO claim that contradicts the structured offer; no allergen safety claim
(the guardrails cannot verify one); no mention of catalog items this customer must not be offered,
and no alcohol at all for a customer who may not receive alcohol marketing.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING

from core.allergens import allergen_words
from core.offer_shape import channel_copy_problems
from core.offer_words import describe_offer
from core.schemas import GuardrailResult, Verdict
from core.sms import sms_length as sms_length  # re-exported: the copy rule's length facts
from core.sms import sms_segments as sms_segments
from guardrails.alcohol import alcohol_ineligibility
from guardrails.context import not_applicable, result
from guardrails.margin import discounted_price_cents
from guardrails.pii_scan import contains_raw_pii

if TYPE_CHECKING:
    from guardrails.context import GuardrailContext
    from guardrails.policy import SmsPolicy

RULE = "copy"
ALLOWED_PLACEHOLDERS = frozenset({"first_name", "promo_code"})

# Every claim pattern below needs a digit or one of these words; copy without them has no claim.
_CLAIM_HINT_RE = re.compile(r"\d|half|free|bogo|buy|two|double|triple|quadruple|points", re.IGNORECASE)
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
_PERCENT_RE = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*(?:%|per\s*cent\b)", re.IGNORECASE)
_HALF_RE = re.compile(r"\bhalf[\s-]*(?:off|price)\b", re.IGNORECASE)
_DOLLAR_RE = re.compile(
    r"\$\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?|\b(\d+)(?:\.(\d{1,2}))?\s*(?:dollars|bucks|usd)\b",
    re.IGNORECASE,
)
# `(?<!\d)` and `\d++`: a number starts where its digits start, so a long digit run is read once.
_POINTS_RE = re.compile(
    r"(?<!\d)(\d{1,3}(?:,\d{3})+|\d++)\s*(?:(?:bonus|extra|loyalty|reward|rewards)\s+)?(?:points|pts|pt)\b",
    re.IGNORECASE,
)
_MULTIPLIER_POINTS_RE = re.compile(r"\b(?:double|triple|quadruple|\d+\s*x)\s+(?:the\s+)?points\b", re.IGNORECASE)
# "Free" in any wording: "free", "on us", "on the house", "complimentary".
_FREE_RE = re.compile(r"(?<![\w-])free\b(?!-)|\bon\s+(?:us|the\s+house)\b|\bcomplimentary\b", re.IGNORECASE)
_FEEL_FREE_RE = re.compile(r"\bfeel\s+free\b", re.IGNORECASE)
# Buy-one-get-one in any wording, the item named in between ("buy one House Salad, get one on us").
_BOGO_RE = re.compile(
    r"\bbogo\b|\bbuy\s+(?:one|1|a|an)\b[^.!?]{0,60}?\bget\s+(?:one|1|another|a\s+second|the\s+second)\b"
    r"|\b(?:2|two)\s*(?:for|-for-)\s*(?:1|one)\b",
    re.IGNORECASE,
)
_EXPIRY_RE = re.compile(
    r"\b(?:valid|expires?|good|ends?|redeem(?:able)?|use it)\b[^.!?\d]{0,24}?(\d{1,3})\s*(days?|weeks?)\b",
    re.IGNORECASE,
)
# "<allergen>-free" in any spelling of the one vocabulary (core.allergens), "allergy safe", ...
_ALLERGEN_WORDS = "|".join(re.escape(word).replace(r"\ ", r"[\s-]?") for word in allergen_words())
_ALLERGEN_CLAIM_RE = re.compile(
    rf"\b(?:{_ALLERGEN_WORDS}|allergen|allergy)[\s-]*free\b"
    r"|\ballerg(?:y|en|ies)[\s-]*(?:safe|friendly)\b|\bsafe\s+for\s+(?:your\s+)?allerg",
    re.IGNORECASE,
)
# Markup in what should be plain text: tags (<b>, </script>, <img ...>), comments, processing
# instructions, and character references (&lt;script&gt;, &#60;) that a careless renderer decodes.
_MARKUP_RE = re.compile(r"</?[A-Za-z][^<>]*>|<!|<\?|&(?:#\d{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_ALCOHOL_WORDS_RE = re.compile(
    r"\b(?:alcohol(?:ic)?|booze|boozy|wines?|beers?|ales?|lagers?|ipas?|stouts?|ciders?|cocktails?|"
    r"margaritas?|mimosas?|sangrias?|spritz(?:es)?|martinis?|mojitos?|spirits?|liquors?|whiske?y|vodka|"
    r"tequila|mezcal|rum|gin|bourbon|champagne|prosecco|sake|brew(?:s|ery)?|pints?|happy\s+hour|bar\s+tab|"
    # grapes, styles and cocktails a menu names without saying "wine" or "cocktail"
    r"pinot|merlot|cabernet|chardonnay|sauvignon|riesling|malbec|shiraz|syrah|zinfandel|rosé|"
    r"cava|brut|bubbly|pilsners?|negronis?|aperol|bellinis?|daiquiris?|bloody\s+marys?|old\s+fashioned|"
    r"drinks?\s+on\s+us|cheers)\b",
    re.IGNORECASE,
)

def _normalize_space(text: str) -> str:
    return " ".join(text.split()).lower()


def has_opt_out(text: str, opt_out_text: str) -> bool:
    """Whether the copy carries the opt-out text (case and spacing ignored)."""
    return _normalize_space(opt_out_text) in _normalize_space(text)


def render_for_length(text: str, *, first_name_budget: int, promo_code_length: int) -> str:
    """The copy with placeholders replaced by filler of their reserved widths."""
    return text.replace("{first_name}", "N" * first_name_budget).replace("{promo_code}", "C" * promo_code_length)


def _cents(whole: str, fraction: str | None) -> Fraction:
    cents = Fraction(int(whole.replace(",", ""))) * 100
    if fraction:
        cents += int(fraction.ljust(2, "0"))
    return cents


def _allowed_amounts(ctx: GuardrailContext) -> tuple[set[Fraction], set[Fraction], set[Fraction]]:
    """(exact percent values, rounded-percent values, cent amounts) the copy may state."""
    offer = ctx.offer
    items = ctx.target_items
    percents: set[Fraction] = set()
    derived_percents: set[Fraction] = set()
    amounts: set[Fraction] = set()
    kind = offer.offer_type
    if kind in ("percent_off_item", "percent_off_category"):
        percents.add(Fraction(offer.discount_pct or 0))
    for item in items:
        price = Fraction(item.price_cents)
        paid = discounted_price_cents(ctx, item)
        amounts.update({price, paid, price - paid})
        if kind == "amount_off_item" and price > 0:
            derived_percents.add(Fraction(offer.discount_cents or 0) * 100 / price)
    if kind == "free_item":
        percents.add(Fraction(100))
        amounts.add(Fraction(0))
    if kind == "bonus_points":
        amounts.add(ctx.offer_value_cents)
    return percents, derived_percents, amounts


def _close(value: Fraction, allowed: set[Fraction], tolerance: Fraction) -> bool:
    return any(abs(value - candidate) <= tolerance for candidate in allowed)


def claim_contradictions(
    ctx: GuardrailContext, text: str, *, allowed: tuple[set[Fraction], set[Fraction], set[Fraction]] | None = None
) -> list[str]:
    """Statements in `text` that the structured offer does not back (`allowed`: precomputed amounts)."""
    offer = ctx.offer
    kind = offer.offer_type
    percents, derived_percents, amounts = allowed if allowed is not None else _allowed_amounts(ctx)
    problems: list[str] = []
    for match in _PERCENT_RE.finditer(text):
        claimed = Fraction(match.group(1))
        # The percentage of a percent offer must be stated exactly; the percentage an amount-off offer
        # works out to may be rounded ("about 21%" for 20.8 %), within half a point.
        if claimed not in percents and not _close(claimed, derived_percents, Fraction(1, 2)):
            problems.append(f"copy claims {match.group(0).strip()} but the offer is {describe_offer(offer)}")
    if _HALF_RE.search(text) and Fraction(50) not in percents and not _close(
        Fraction(50), derived_percents, Fraction(1, 2)
    ):
        problems.append(f"copy claims half off but the offer is {describe_offer(offer)}")
    for match in _DOLLAR_RE.finditer(text):
        whole, fraction = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
        claimed = _cents(whole, fraction)
        # Copy may round to whole dollars ("$24" for 2399 cents): allow up to a dollar when no cents are given.
        tolerance = Fraction(1) if fraction else Fraction(99)
        if not _close(claimed, amounts, tolerance):
            problems.append(f"copy states {match.group(0).strip()} which matches no price or saving of the offer")
    for match in _POINTS_RE.finditer(text):
        claimed_points = int(match.group(1).replace(",", ""))
        if kind != "bonus_points" or claimed_points != (offer.bonus_points or 0):
            problems.append(f"copy promises {match.group(0).strip()} but the offer is {describe_offer(offer)}")
    if _MULTIPLIER_POINTS_RE.search(text):
        problems.append("copy promises a points multiplier, which no offer type provides")
    if kind != "free_item" and _FREE_RE.search(_FEEL_FREE_RE.sub(" ", text)):
        problems.append(f"copy says 'free' but the offer is {describe_offer(offer)}")
    if _BOGO_RE.search(text):
        problems.append("copy promises buy-one-get-one, which no offer type provides")
    for match in _EXPIRY_RE.finditer(text):
        days = int(match.group(1)) * (7 if match.group(2).lower().startswith("week") else 1)
        if days != offer.expires_in_days:
            claim = match.group(0).strip()
            problems.append(f"copy says {claim!r} but the offer expires in {offer.expires_in_days} days")
    return problems


def _mentions(text: str, lowered: str, phrase: str) -> bool:
    """Whole-word, case-insensitive mention of `phrase` (substring test first: most copy has none)."""
    if phrase not in lowered:
        return False
    return re.search(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", text, re.IGNORECASE) is not None


@lru_cache(maxsize=4096)
def _phrases(*names: str) -> tuple[str, ...]:
    """The lower-case phrases an item is named by (names shorter than three characters are too ambiguous)."""
    return tuple(p.strip().lower() for p in names if len(p.strip()) >= 3)


def _forbidden_phrases(ctx: GuardrailContext, *, alcohol_banned: bool) -> list[tuple[Verdict, str, tuple[str, ...]]]:
    """(verdict, problem, lower-case phrases) for every catalog item the copy must not name."""
    unknown = ctx.customer_allergies is None
    why = "a top-9 allergen and the customer's allergies are unknown" if unknown else "the customer's allergen"
    allergen_verdict: Verdict = ctx.policy.unknown_allergy_action if unknown else "block"
    entries: list[tuple[Verdict, str, tuple[str, ...]]] = []
    for sku, item in ctx.forbidden_allergen_items.items():
        entries.append((allergen_verdict, f"copy mentions {item.name} ({sku}), which contains {why}",
                        _phrases(item.name, sku)))
    if alcohol_banned:
        for sku, item in ctx.catalog.items():
            if item.contains_alcohol:
                entries.append(("block", f"copy mentions alcohol item {item.name} ({sku}) to an ineligible customer",
                                _phrases(item.name, sku, item.subcategory or "")))
    return entries


def _without_safe_item_names(ctx: GuardrailContext, text: str) -> str:
    """The copy minus the catalog names of the offer's own alcohol-free items.

    A zero-proof "Nojito (zero-proof mojito)" is a catalog fact, not an alcohol mention; every
    other word of the copy is still scanned.
    """
    for item in ctx.target_items:
        if not item.contains_alcohol and item.name:
            text = re.sub(re.escape(item.name), " ", text, flags=re.IGNORECASE)
    return text


def _forbidden_mentions(
    text: str, phrases: list[tuple[Verdict, str, tuple[str, ...]]], *, alcohol_banned: bool
) -> list[tuple[Verdict, str]]:
    found: list[tuple[Verdict, str]] = []
    lowered = text.lower()
    if alcohol_banned and _ALCOHOL_WORDS_RE.search(text):
        found.append(("block", "copy mentions alcohol to a customer who may not receive alcohol marketing"))
    for verdict, problem, candidates in phrases:
        if any(_mentions(text, lowered, phrase) for phrase in candidates):
            found.append((verdict, problem))
    return found


def sms_problems(text: str, sms: SmsPolicy) -> list[str]:
    """Why SMS copy does not fit the policy: its length with the placeholders at their budgeted widths,
    and the opt-out text. The drafters write to this same check."""
    problems: list[str] = []
    rendered = render_for_length(
        text, first_name_budget=sms.first_name_budget, promo_code_length=sms.promo_code_length
    )
    length, limit, gsm = sms.measure(rendered)
    if length > limit:
        encoding = "GSM-7" if gsm else "UCS-2"
        problems.append(f"sms is {length} {encoding} characters with placeholders expanded (limit {limit})")
    if not has_opt_out(text, sms.opt_out_text):
        problems.append(f"sms lacks the opt-out text {sms.opt_out_text!r}")
    return problems


def _channel_copy(ctx: GuardrailContext) -> list[tuple[str, str]]:
    offer = ctx.offer
    if offer.channel == "sms":
        fields = [("sms_text", offer.sms_text or "")]
    else:
        fields = [("email_subject", offer.email_subject or ""), ("email_body", offer.email_body or "")]
    return [(name, text) for name, text in fields if text.strip()]


def _format_problems(ctx: GuardrailContext, fields: list[tuple[str, str]]) -> list[str]:
    policy = ctx.policy
    problems: list[str] = []
    for name, text in fields:
        if name == "sms_text":
            problems.extend(sms_problems(text, policy.sms))
        elif name == "email_subject" and len(text) > policy.email.max_subject_length:
            problems.append(f"email subject is {len(text)} characters (limit {policy.email.max_subject_length})")
    return problems


def check_copy(ctx: GuardrailContext) -> GuardrailResult:
    offer = ctx.offer
    if not offer.make_offer:
        return not_applicable(RULE, "no offer drafted")
    blocks = channel_copy_problems(offer) + _format_problems(ctx, _channel_copy(ctx))
    escalations: list[str] = []
    all_copy = [
        (name, text)
        for name, text in (
            ("sms_text", offer.sms_text),
            ("email_subject", offer.email_subject),
            ("email_body", offer.email_body),
        )
        if text
    ]
    # Identical copy in several fields (sms_text and email_body often match) is checked once.
    names_by_text: dict[str, list[str]] = {}
    for name, text in all_copy:
        names_by_text.setdefault(text, []).append(name)
    pii_found: dict[str, list[str]] = {}
    alcohol_banned = bool(alcohol_ineligibility(ctx))
    phrases = _forbidden_phrases(ctx, alcohol_banned=alcohol_banned)
    allowed: tuple[set[Fraction], set[Fraction], set[Fraction]] | None = None
    for text, names in names_by_text.items():
        name = "/".join(names)
        if _MARKUP_RE.search(text):
            blocks.append(f"{name} contains markup (HTML tags or character references); copy is plain text")
        unknown_placeholders = sorted(set(_PLACEHOLDER_RE.findall(text)) - ALLOWED_PLACEHOLDERS)
        if unknown_placeholders:
            blocks.append(f"{name} uses placeholders other than {{first_name}}/{{promo_code}}: {unknown_placeholders}")
        kinds = contains_raw_pii(text, ctx.known_pii_values)
        if kinds:
            pii_found.update(dict.fromkeys(names, kinds))
            blocks.append(f"{name} contains raw PII ({', '.join(kinds)}); use the {{first_name}} placeholder")
        if _CLAIM_HINT_RE.search(text):
            allowed = allowed or _allowed_amounts(ctx)
            blocks.extend(f"{name}: {problem}" for problem in claim_contradictions(ctx, text, allowed=allowed))
        if _ALLERGEN_CLAIM_RE.search(text):
            blocks.append(f"{name} makes an allergen-safety claim the guardrails cannot verify")
        scan = _without_safe_item_names(ctx, text)
        for verdict, problem in _forbidden_mentions(scan, phrases, alcohol_banned=alcohol_banned):
            (blocks if verdict == "block" else escalations).append(f"{name}: {problem}")
    evidence: dict[str, object] = {"fields": [name for name, _ in all_copy]}
    if pii_found:
        evidence["pii_kinds"] = pii_found
    if blocks:
        return result(RULE, "block", "; ".join(blocks), problems=blocks + escalations, **evidence)
    if escalations:
        return result(RULE, "escalate", "; ".join(escalations), problems=escalations, **evidence)
    return result(RULE, "pass", "copy is compliant", **evidence)
