"""Copywriting for drafted offers: the words around a decision, written to the policy's copy limits.

An `OfferPlan` is a strategy's decision before copy is written. `write_copy` renders it with the
versioned templates in prompts/ (`copy_<strategy>_<channel>.txt`), picks the guest's variant
deterministically, and returns copy that passes the copy rule's format checks for the merchant's
policy (SMS length per encoding with the placeholder budgets, the policy's opt-out text, the email
subject length), or None when no variant can: the caller then tries another channel or drafts no
offer. Every number in the copy comes from the plan; item names are cleaned of claims of their own.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from agent.draft_input import OfferLimits
from core.offer_words import describe_offer, money
from core.schemas import MAX_EMAIL_BODY_CHARS, CatalogFact, Channel, OfferType
from guardrails.copy import sms_problems
from prompts import load_prompt, render_template


@dataclass(frozen=True)
class OfferPlan:
    """A strategy's decision before copy is written."""

    strategy: str
    offer_type: OfferType
    expires_in_days: int
    confidence: float
    rationale: str
    item: CatalogFact | None = None
    category: str | None = None
    discount_pct: float | None = None
    bonus_points: int | None = None
    next_tier: str | None = None
    discount_cents: int | None = None  # no strategy plans an amount off; the terms' shape has the field

    @property
    def sku(self) -> str | None:
        return self.item.sku if self.item is not None else None


@dataclass(frozen=True)
class WrittenCopy:
    """Copy for one channel, with the version of the template that produced it."""

    channel: Channel
    prompt_version: str
    sms_text: str | None = None
    email_subject: str | None = None
    email_body: str | None = None


# Offer claims an item name must not smuggle into the copy ("50% OFF", "$5", "Free", "BOGO"): the copy's
# numbers and promises come from the structured offer alone, and the copy guardrail blocks any other.
_NAME_CLAIM_RE = re.compile(
    r"\d+(?:[.,]\d+)?\s*(?:%|per\s*cent\b|percent\b)"  # 50%, 12.5 percent
    r"|%"
    r"|[$\u00a2\u00a3\u00a5\u20ac]\s*\d[\d,]*(?:\.\d+)?"  # $5, $1,200.00, EUR/GBP/JPY signs
    r"|\b\d+(?:\.\d+)?\s*(?:dollars?|bucks|usd|eur|euros?)\b"
    r"|\d+\s*x?\s*(?:(?:bonus|extra|loyalty|reward|rewards)\s+)?(?:points|pts)\b"
    r"|\b(?:double|triple|quadruple)\s+(?:the\s+)?points\b"
    r"|\bhalf[\s-]*(?:off|price)\b"
    r"|\bbogo\b|\bbuy\s+(?:one|1),?\s+get\s+(?:one|1)\b|\b(?:2|two)\s*(?:for|-for-)\s*(?:1|one)\b"
    # Stand-alone "free"/"off" only: "Sugar-Free" and "Kick-Off" are product names, not claims.
    r"|(?<![\w-])(?:free|off)\b(?!-)",
    re.IGNORECASE,
)


def copy_safe_name(name: str, *, max_length: int = 40) -> str:
    """An item name fit for copy: plain ASCII (one GSM-7 SMS segment), no braces that would break the
    {first_name}/{promo_code} placeholders, no markup or control characters, no offer claims of its
    own (percent, money amounts, points, "free"/"off"/BOGO: a name like "50% OFF Special" would make
    the copy promise what the offer does not give), bounded length."""
    folded = unicodedata.normalize("NFKC", name)  # full-width digits and signs become plain ones first
    claim_free = _NAME_CLAIM_RE.sub(" ", folded)
    ascii_name = unicodedata.normalize("NFKD", claim_free).encode("ascii", "ignore").decode("ascii")
    cleaned = "".join(ch for ch in ascii_name if ch.isprintable() and ch not in "{}$%<>")
    cleaned = " ".join(cleaned.split())
    # Claims removed from the middle of a name can leave dangling separators ("Special - - Plate").
    cleaned = re.sub(r"(?:\s+[-/|:,+&])+(?=\s|$)", "", cleaned).strip(" -/|:,+&")
    if len(cleaned) > max_length:
        cleaned = cleaned[:max_length].rsplit(" ", 1)[0]
    return cleaned or "a treat"


def variant_index(*, pseudonym: str, local_date: date, key: str, count: int) -> int:
    """Deterministic copy variation: the same guest on the same day always gets the same variant,
    different guests and days spread over the variants."""
    digest = hashlib.sha256(f"{pseudonym}|{local_date.isoformat()}|{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % count


def _category_noun(category: str) -> str:
    """"desserts" -> "dessert", "mains" -> "main course": reads naturally after "any"."""
    name = copy_safe_name(category.replace("_", " ").lower(), max_length=30)
    if name == "mains":
        return "main course"
    return name[:-1] if name.endswith("s") and not name.endswith("ss") else name


def _offer_phrase(plan: OfferPlan, item_name: str) -> str:
    """The offer's terms in the one wording (core.offer_words), with the copy-safe names."""
    category = _category_noun(plan.category) if plan.category else None
    return describe_offer(plan, item_name=item_name or None, category_name=category)


def _price_line(plan: OfferPlan) -> str:
    item = plan.item
    if plan.offer_type == "bonus_points":
        return f"That's enough to reach {plan.next_tier}."
    if plan.offer_type == "percent_off_category":
        return f"Valid on any one item from our {copy_safe_name(plan.category or '', max_length=30)}."
    if item is None:
        return ""
    if plan.offer_type == "free_item":
        return f"A {money(item.price_cents)} treat, on us."
    discounted = round(item.price_cents * (1 - (plan.discount_pct or 0) / 100))
    return f"Usually {money(item.price_cents)}, yours for {money(discounted)}."


def copy_values(plan: OfferPlan, *, valid_until: date, opt_out: str, name_length: int = 40) -> dict[str, str]:
    """The `$fields` of the copy templates for this plan."""
    item_name = copy_safe_name(plan.item.name, max_length=name_length) if plan.item else ""
    offer = _offer_phrase(plan, item_name)
    return {
        "offer": offer,
        "offer_title": offer[:1].upper() + offer[1:],
        "price_line": _price_line(plan),
        "valid_until": f"{valid_until:%b} {valid_until.day}",
        "tier": plan.next_tier or "",
        "opt_out": opt_out,
    }


def fit_sms(variants: list[str], values: dict[str, str], limits: OfferLimits) -> str | None:
    """The first variant (in the guest's deterministic order) that passes the copy rule's SMS checks for
    this policy; with long item names, the shortest variant with the offer phrase shortened at a word;
    None when nothing fits (the opt-out text is never shortened)."""
    for variant in variants:
        text = render_template(variant, **values)
        if not sms_problems(text, limits.sms):
            return text
    shortest = min(variants, key=lambda v: len(render_template(v, **values)))
    offer = values["offer"]
    words = offer.split(" ")
    for keep in range(len(words) - 1, 1, -1):  # "20% off Grilled Salmon Royale" -> "20% off Grilled Salmon"
        text = render_template(shortest, **{**values, "offer": " ".join(words[:keep])})
        if not sms_problems(text, limits.sms):
            return text
    return None


def _split_email(rendered: str) -> tuple[str, str]:
    first, _, body = rendered.partition("\n")
    subject = first.removeprefix("Subject:").strip()
    return subject, body.strip()


def fit_email(variants: list[str], values: dict[str, str], limits: OfferLimits) -> tuple[str, str] | None:
    """(subject, body) of the first variant whose subject fits the policy's subject length."""
    for variant in variants:
        subject, body = _split_email(render_template(variant, **values))
        if subject and len(subject) <= limits.email_max_subject_length and len(body) <= MAX_EMAIL_BODY_CHARS:
            return subject, body
    return None


def write_copy(
    plan: OfferPlan, *, channel: Channel, limits: OfferLimits, pseudonym: str, local_date: date
) -> WrittenCopy | None:
    """Copy for `plan` on `channel` within the policy's limits, or None when no template fits them."""
    prompt = load_prompt(f"copy_{plan.strategy}_{channel}")
    valid_until = local_date + timedelta(days=plan.expires_in_days)
    values = copy_values(plan, valid_until=valid_until, opt_out=limits.sms.opt_out_text)
    variants = prompt.variants()
    start = variant_index(pseudonym=pseudonym, local_date=local_date, key=plan.strategy, count=len(variants))
    ordered = variants[start:] + variants[:start]
    if channel == "sms":
        sms_text = fit_sms(ordered, values, limits)
        return None if sms_text is None else WrittenCopy(channel, prompt.version, sms_text=sms_text)
    email = fit_email(ordered, values, limits)
    if email is None:
        return None
    return WrittenCopy(channel, prompt.version, email_subject=email[0], email_body=email[1])
