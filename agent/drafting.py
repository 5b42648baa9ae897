"""The drafting brain of the offer agent: its input, its result, and the offline drafter.

`DraftInput` is a plain pydantic model so the graph can build it from whatever profiles/,
vectorstore/ and the database return without this module importing them. `OfflineDrafter` is the
product on a machine with no model (LLM_PROVIDER=offline, the default) and the fallback whenever
the model is late or wrong: it makes the decisions a restaurant marketer would make from the
profile and writes the copy from the versioned templates in prompts/. Nothing it drafts is trusted
either: the guardrails check it exactly like a model's draft.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Protocol

from pydantic import AwareDatetime, BaseModel, Field

from core.schemas import CatalogFact, Channel, OfferDraft, OfferType
from guardrails.context import normalize_allergen
from prompts import load_prompt, render_template

if TYPE_CHECKING:
    from agent.read_tools import ReadToolContext

OFFLINE_MODEL_NAME = "offline-drafter"
# Bumped by hand when the decision rules change (the copy templates carry their own versions).
OFFLINE_RULES_VERSION = "offline-rules@4"

SMS_OPT_OUT_TEXT = "Reply STOP to opt out"
SMS_MAX_LENGTH = 160
FIRST_NAME_BUDGET = 12  # characters reserved for {first_name} when measuring SMS length
PROMO_CODE_BUDGET = 10  # characters reserved for {promo_code}

# Decision thresholds, named so the rationale and the tests speak the same language.
FAVOURITE_DUE_WINDOW_DAYS = 7
BIRTHDAY_WINDOW_DAYS = 30
WIN_BACK_CHURN_RISK = 0.6
WIN_BACK_MIN_VISITS = 4
WIN_BACK_MAX_VALUE_CENTS = 1000
WIN_BACK_MIN_PCT = 15  # below this a win-back is no bigger than a routine nudge
BONUS_POINTS_MAX_GAP = 200
COMPLEMENT_MIN_SCORE = 0.15
COMPLEMENT_MIN_DAYS_SINCE_OFFER = 14
MAX_OFFERS_30D = 3
MIN_DAYS_BETWEEN_OFFERS = 2  # the fatigue guardrail's 48 h floor; drafting earlier is wasted work
JUST_VISITED_OFFER_COOLDOWN_DAYS = 7
TOP9_ALLERGENS = ("milk", "eggs", "fish", "shellfish", "tree_nuts", "peanuts", "wheat", "soy", "sesame")
ADD_ON_CATEGORIES = ("dessert", "side", "starter", "appetizer", "drink", "coffee")


# --------------------------------------------------------------------------- input


class FavouriteItem(BaseModel):
    """One item the guest orders repeatedly, with its personal reorder rhythm."""

    sku: str
    name: str
    category: str
    count: int = Field(ge=0, description="Times ordered in the profile window.")
    last_ordered_days_ago: int | None = None
    typical_interval_days: float | None = None
    next_expected_in_days: float | None = Field(
        default=None, description="Days until the guest usually reorders it; negative = overdue."
    )


class DraftFeatures(BaseModel):
    """The subset of profile features the drafter reasons about (filled from profiles/)."""

    favourite_items: list[FavouriteItem] = Field(default_factory=list)
    favourite_categories: list[str] = Field(default_factory=list)
    visits_12m: int = 0
    avg_interval_days: float | None = None
    days_since_last_visit: int | None = None
    expected_next_visit_in_days: float | None = None
    churn_risk: float = Field(default=0.0, ge=0, le=1)
    p_alive: float = Field(default=1.0, ge=0, le=1)
    clv_cents: int = 0
    spend_per_visit_cents: int = 0
    lapsed: bool = False
    dessert_share: float = 0.0
    alcohol_share: float = 0.0
    brunch_share: float = 0.0
    weekend_share: float = 0.0
    birthday_in_days: int | None = None
    tier: str = "member"
    next_tier: str | None = None
    points_to_next_tier: int | None = None


class TransactionLine(BaseModel):
    """An item in the sale that triggered this decision."""

    sku: str
    name: str
    category: str


class Complement(BaseModel):
    """An item bought together with this guest's items by similar guests (vector store)."""

    sku: str
    name: str
    score: float = Field(ge=0)


class OfferHistorySummary(BaseModel):
    offers_last_30d: int = 0
    last_offer_days_ago: int | None = None
    last_offer_type: str | None = None
    last_offer_strategy: str | None = None


class ConsentSummary(BaseModel):
    """What the guest agreed to, as the drafter needs it.

    `alcohol_allowed` is the one flag the drafter obeys for alcohol: the caller computes it from
    facts the drafter never sees (age from the birthday, the location's alcohol policy), so the two
    informational flags next to it are not enough on their own. It defaults to False: a caller that
    forgets it gets no alcohol offers rather than unsafe ones.
    """

    sms: bool = False
    email: bool = False
    alcohol_marketing: bool = False
    age_verified: bool = False
    alcohol_allowed: bool = Field(
        default=False,
        description="Verified legal drinking age AND alcohol-marketing opt-in AND the location allows alcohol.",
    )


class OfferLimits(BaseModel):
    """The merchant policy's hard limits, copied in so drafts aim inside them (the guardrails still
    enforce them). Defaults mirror guardrails/default_policy.yaml."""

    min_margin_pct: float = 30
    max_discount_pct: float = 30
    max_offer_value_cents: int = 1500
    free_item_max_price_cents: int = 0
    point_value_cents: float = 1
    # When the guest's allergies are unknown, items with these allergens are not drafted (the default
    # policy blocks them: unknown_allergy_action=block on the top-9). Pass [] when the policy allows
    # or escalates such offers instead.
    excluded_allergens_when_unknown: list[str] = Field(
        default_factory=lambda: list(TOP9_ALLERGENS), description="Canonical allergen names."
    )


class DraftInput(BaseModel):
    """Everything one drafting decision may look at; pseudonymous, no contact PII."""

    pseudonym: str
    profile_document: str = Field(default="", description="Pseudonymized profile text.")
    features: DraftFeatures = Field(default_factory=DraftFeatures)
    transaction: list[TransactionLine] = Field(default_factory=list, description="Just bought; empty in campaigns.")
    purchased_skus: list[str] = Field(default_factory=list, description="Every sku the guest ever bought.")
    eligible_catalog: list[CatalogFact] = Field(default_factory=list)
    excluded_categories: list[str] = Field(
        default_factory=list,
        description=(
            "Categories holding an active item this guest may not be offered (alcohol, allergens) that is"
            " missing from eligible_catalog: a category offer would cover it, so none is drafted on them."
        ),
    )
    complements: list[Complement] = Field(default_factory=list)
    offer_history: OfferHistorySummary = Field(default_factory=OfferHistorySummary)
    staff_notes_pseudonymized: str | None = Field(default=None, description="Untrusted free text.")
    consents: ConsentSummary = Field(default_factory=ConsentSummary)
    allergies: list[str] | None = Field(default=None, description="Known allergies; None = unknown.")
    limits: OfferLimits = Field(default_factory=OfferLimits)
    now: AwareDatetime
    local_date: date


# --------------------------------------------------------------------------- result and protocol


class DraftResult(BaseModel):
    """A draft plus what produced it, recorded in the audit trail."""

    offer: OfferDraft
    model: str
    prompt_version: str
    model_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    fallback_reason: str | None = None
    repaired: bool = False


class Drafter(Protocol):
    """Anything that turns a DraftInput into a DraftResult. `context` feeds the model's read-only
    tools (drafters without tools ignore it)."""

    def draft(self, inp: DraftInput, *, context: ReadToolContext | None = None) -> DraftResult: ...


# --------------------------------------------------------------------------- offer arithmetic


def margin_after_discount(item: CatalogFact, discount_pct: float) -> float:
    """Gross margin (0..1) of the item sold at the discounted price; -inf if it would be free."""
    price = item.price_cents * (1 - discount_pct / 100)
    if price <= 0:
        return -math.inf
    return (price - item.unit_cost_cents) / price


def base_margin(item: CatalogFact) -> float:
    return margin_after_discount(item, 0)


def fit_discount_pct(
    items: list[CatalogFact],
    *,
    want_pct: int,
    limits: OfferLimits,
    max_value_cents: int | None = None,
    min_pct: int = 10,
) -> int | None:
    """The largest discount from `want_pct` down to `min_pct` (5-point steps) that keeps every item
    above the margin floor, under the discount cap and under the value cap; None if none does."""
    cap_value = limits.max_offer_value_cents if max_value_cents is None else max_value_cents
    cap_value = min(cap_value, limits.max_offer_value_cents)
    for pct in range(min(want_pct, int(limits.max_discount_pct)), min_pct - 1, -5):
        worst_margin = min(margin_after_discount(item, pct) for item in items)
        top_value = max(item.price_cents for item in items) * pct / 100
        if worst_margin * 100 >= limits.min_margin_pct and top_value <= cap_value:
            return pct
    return None


def format_money(cents: float) -> str:
    return f"${cents / 100:,.2f}"


def format_pct(pct: float) -> str:
    return f"{pct:g}%"


def sms_length_bound(text: str) -> int:
    """SMS length once {first_name} and {promo_code} are filled with their budgeted lengths."""
    return (
        len(text)
        + text.count("{first_name}") * (FIRST_NAME_BUDGET - len("{first_name}"))
        + text.count("{promo_code}") * (PROMO_CODE_BUDGET - len("{promo_code}"))
    )


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
    {first_name}/{promo_code} placeholders, no control characters, no offer claims of its own (percent,
    money amounts, points, "free"/"off"/BOGO: a name like "50% OFF Special" would make the copy promise
    what the offer does not give), bounded length."""
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


# --------------------------------------------------------------------------- offline drafter


@dataclass(frozen=True)
class _Plan:
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


def _clamp(value: float, low: int, high: int) -> int:
    return int(max(low, min(high, round(value))))


def _is_category(item: CatalogFact, word: str) -> bool:
    return word in item.category.lower() or word in (item.subcategory or "").lower()


class OfflineDrafter:
    """Deterministic, marketer-grade drafter. Strategies in priority order: birthday, win-back,
    favourite at the right moment, bonus points towards the next tier, complement; otherwise no
    offer, with the reasons spelled out in the rationale."""

    model_name = OFFLINE_MODEL_NAME

    @staticmethod
    def _unreachable_reason(inp: DraftInput) -> str | None:
        """A guest who opted in to no channel cannot receive an offer; drafting one would only be blocked."""
        if not (inp.consents.sms or inp.consents.email):
            return "guest has not opted in to SMS or email, so there is no channel to send an offer on"
        return None

    def draft(self, inp: DraftInput, *, context: ReadToolContext | None = None) -> DraftResult:
        eligible = self._eligible_items(inp)
        blocked_reason = self._unreachable_reason(inp) or self._fatigue_reason(inp)
        if blocked_reason:
            return self._no_offer(blocked_reason, confidence=0.85)
        reasons: list[str] = []
        for strategy in (self._birthday, self._win_back, self._favourite, self._bonus_points, self._complement):
            plan, reason = strategy(inp, eligible)
            if plan is not None:
                return self._with_copy(inp, plan)
            reasons.append(reason)
        if inp.features.visits_12m <= 1:
            summary = "First-time or occasional guest with no strong signal yet; an unprompted discount would"
            summary += " only train them to wait for one."
            return self._no_offer(summary + " Details: " + " ".join(reasons), confidence=0.75)
        return self._no_offer("Nothing fits right now. " + " ".join(reasons), confidence=0.7)

    # -- filters ---------------------------------------------------------------------------------

    @staticmethod
    def _forbidden_for_guest(inp: DraftInput) -> Callable[[CatalogFact], bool]:
        """Whether an item is one this guest must not be offered (alcohol or allergens), as far as the
        drafter can tell; the guardrails re-check all of it."""
        if inp.allergies is None:
            allergies = {normalize_allergen(a) for a in inp.limits.excluded_allergens_when_unknown}
        else:
            allergies = {normalize_allergen(a) for a in inp.allergies}
        alcohol_ok = inp.consents.alcohol_allowed

        def forbidden(item: CatalogFact) -> bool:
            if item.contains_alcohol and not alcohol_ok:
                return True
            return bool(allergies & {normalize_allergen(a) for a in item.allergens})

        return forbidden

    @classmethod
    def _eligible_items(cls, inp: DraftInput) -> dict[str, CatalogFact]:
        """Items this guest may be offered, as far as the drafter can tell (guardrails re-check)."""
        forbidden = cls._forbidden_for_guest(inp)
        return {
            item.sku: item
            for item in inp.eligible_catalog
            if item.active and item.price_cents > 0 and not forbidden(item)
        }

    @classmethod
    def _excluded_categories(cls, inp: DraftInput) -> set[str]:
        """Categories a category offer must not target: a percent_off_category covers every active item of
        the category, so one forbidden item anywhere in it (told by the caller, or seen here in the
        catalog the drafter was given) rules the whole category out."""
        forbidden = cls._forbidden_for_guest(inp)
        seen = {item.category for item in inp.eligible_catalog if item.active and forbidden(item)}
        return seen | set(inp.excluded_categories)

    @staticmethod
    def _fatigue_reason(inp: DraftInput) -> str | None:
        history = inp.offer_history
        if history.offers_last_30d >= MAX_OFFERS_30D:
            return (
                f"No offer: the guest already received {history.offers_last_30d} offers in the last 30 days;"
                " more would feel like spam."
            )
        last = history.last_offer_days_ago
        if last is not None and last < MIN_DAYS_BETWEEN_OFFERS:
            return f"No offer: the last offer went out {last} day(s) ago; give it time to work."
        just_visited = bool(inp.transaction) or inp.features.days_since_last_visit == 0
        if just_visited and last is not None and last < JUST_VISITED_OFFER_COOLDOWN_DAYS:
            return (
                f"No offer: the guest is here today and already holds an offer from {last} days ago;"
                " another one now would only discount a visit that is happening anyway."
            )
        return None

    @staticmethod
    def _sort_key_margin(item: CatalogFact, allergies_unknown: bool) -> tuple[float, int, str]:
        """Higher margin first; when allergies are unknown prefer items with fewer allergens."""
        penalty = len(item.allergens) * 0.05 if allergies_unknown else 0.0
        return (-(base_margin(item) - penalty), item.price_cents, item.sku)

    # -- strategies ------------------------------------------------------------------------------

    def _birthday(self, inp: DraftInput, eligible: dict[str, CatalogFact]) -> tuple[_Plan | None, str]:
        days = inp.features.birthday_in_days
        if days is None or not 0 <= days <= BIRTHDAY_WINDOW_DAYS:
            return None, "No birthday coming up."
        history = inp.offer_history
        if history.last_offer_strategy == "birthday" and (history.last_offer_days_ago or 0) < 60:
            return None, "Birthday treat already sent."
        desserts = [item for item in eligible.values() if _is_category(item, "dessert")]
        if not desserts:
            return None, "Birthday coming up, but no eligible dessert to offer."
        favourite_skus = {fav.sku: fav.count for fav in inp.features.favourite_items}
        liked = [item for item in desserts if item.sku in favourite_skus]
        unknown = inp.allergies is None
        if liked:
            item = max(liked, key=lambda it: (favourite_skus[it.sku], base_margin(it), it.sku))
            why_item = f"{item.name} is their favourite dessert"
        else:
            item = min(desserts, key=lambda it: self._sort_key_margin(it, unknown))
            why_item = f"{item.name} is the highest-margin dessert ({base_margin(item):.0%} margin)"
        expires = _clamp(days + 7, 7, 45)
        when = "today" if days == 0 else f"in {days} days"
        if inp.limits.free_item_max_price_cents >= item.price_cents:
            return _Plan(
                strategy="birthday",
                offer_type="free_item",
                item=item,
                expires_in_days=expires,
                confidence=0.85 if liked else 0.8,
                rationale=(
                    f"Birthday {when}: a free dessert is a low-cost, high-goodwill treat. {why_item}, worth"
                    f" {format_money(item.price_cents)}. Valid {expires} days so it covers the celebration."
                ),
            ), ""
        pct = fit_discount_pct([item], want_pct=25, limits=inp.limits)
        if pct is None:
            return None, f"Birthday {when}, but no dessert discount keeps the margin floor."
        return _Plan(
            strategy="birthday",
            offer_type="percent_off_item",
            item=item,
            discount_pct=pct,
            expires_in_days=expires,
            confidence=0.8 if liked else 0.75,
            rationale=(
                f"Birthday {when}: a dessert treat builds goodwill at low cost. {why_item}. Free items are"
                f" disabled by policy, so {pct}% off instead. Valid {expires} days so it covers the celebration."
            ),
        ), ""

    def _win_back(self, inp: DraftInput, eligible: dict[str, CatalogFact]) -> tuple[_Plan | None, str]:
        f = inp.features
        if not (f.lapsed or f.churn_risk >= WIN_BACK_CHURN_RISK):
            return None, f"Not at risk (churn risk {f.churn_risk:.0%})."
        if f.visits_12m < WIN_BACK_MIN_VISITS:
            return None, (
                f"At risk, but only {f.visits_12m} visit(s) in 12 months: not a regular worth a bigger incentive."
            )
        valuable = f.spend_per_visit_cents >= 2500 or f.clv_cents >= 30000
        want = 25 if (f.churn_risk >= 0.8 and valuable) else 20
        lapse = (
            f"Lapsing regular: {f.visits_12m} visits in 12 months, last one {f.days_since_last_visit} days ago"
            if f.days_since_last_visit is not None
            else f"Lapsing regular: {f.visits_12m} visits in 12 months"
        )
        lapse += f", churn risk {f.churn_risk:.0%}, average spend {format_money(f.spend_per_visit_cents)} per visit."
        expires = _clamp(f.avg_interval_days or 21, 14, 30)
        confidence = min(0.75, 0.55 + 0.02 * min(f.visits_12m, 10))
        if f.p_alive < 0.2:
            confidence = 0.5  # probably gone for good: worth a reviewer's look before spending on it
        def win_back_pct(items: list[CatalogFact]) -> int | None:
            return fit_discount_pct(items, want_pct=want, limits=inp.limits, max_value_cents=WIN_BACK_MAX_VALUE_CENTS,
                                    min_pct=WIN_BACK_MIN_PCT)

        def item_plan(item: CatalogFact, pct: int, plan_confidence: float, rationale: str) -> _Plan:
            return _Plan(strategy="win_back", offer_type="percent_off_item", item=item, discount_pct=pct,
                         expires_in_days=expires, confidence=plan_confidence, rationale=rationale)

        for fav in sorted(f.favourite_items, key=lambda it: (-it.count, it.sku)):
            item = eligible.get(fav.sku)
            if item is None or (pct := win_back_pct([item])) is None:
                continue
            return item_plan(item, pct, confidence, (
                f"{lapse} A bigger incentive on their favourite, {item.name} (ordered {fav.count} times):"
                f" {pct}% off, worth at most {format_money(item.price_cents * pct / 100)}, keeps"
                f" {margin_after_discount(item, pct):.0%} margin. Valid {expires} days."
            )), ""
        excluded = self._excluded_categories(inp)
        unknown_allergies = inp.allergies is None
        for category in f.favourite_categories:
            items = [item for item in eligible.values() if item.category == category]
            if not items:
                continue
            if category in excluded:
                # A category offer would also cover items this guest may not have (alcohol, allergens):
                # carry the incentive on the best single item of the category instead.
                for item in sorted(items, key=lambda it: self._sort_key_margin(it, unknown_allergies)):
                    if (pct := win_back_pct([item])) is None:
                        continue
                    return item_plan(item, pct, confidence - 0.05, (
                        f"{lapse} No favourite item can carry the incentive, and a promo on their favourite"
                        f" category, {category}, would also cover items this guest may not be offered; so"
                        f" {pct}% off {item.name}, its best-margin item (keeps"
                        f" {margin_after_discount(item, pct):.0%} margin). Valid {expires} days."
                    )), ""
                continue
            if (pct := win_back_pct(items)) is None:
                continue
            return _Plan(
                strategy="win_back",
                offer_type="percent_off_category",
                category=category,
                discount_pct=pct,
                expires_in_days=expires,
                confidence=confidence - 0.05,
                rationale=(
                    f"{lapse} No favourite item can carry the incentive, so {pct}% off their favourite"
                    f" category, {category}, capped so every item keeps the margin floor. Valid {expires} days."
                ),
            ), ""
        return None, "At risk, but no favourite item or category can carry a win-back discount."

    def _favourite(self, inp: DraftInput, eligible: dict[str, CatalogFact]) -> tuple[_Plan | None, str]:
        f = inp.features
        just_bought = {line.sku for line in inp.transaction}
        due = [
            fav
            for fav in f.favourite_items
            if fav.sku in eligible
            and fav.sku not in just_bought
            and fav.count >= 2
            and fav.next_expected_in_days is not None
            and fav.next_expected_in_days <= FAVOURITE_DUE_WINDOW_DAYS
        ]
        if not due:
            return None, "No favourite is due in the next week."
        fav = min(
            due,
            key=lambda it: (abs(it.next_expected_in_days or 0), -it.count, -base_margin(eligible[it.sku]), it.sku),
        )
        item = eligible[fav.sku]
        next_in = fav.next_expected_in_days or 0
        want = 15 if (next_in < 0 or f.churn_risk >= 0.4) else 10
        pct = fit_discount_pct([item], want_pct=want, limits=inp.limits)
        if pct is None:
            return None, f"{item.name} is due, but no discount keeps its margin floor."
        expires = _clamp(max(next_in, 0) + 7, 5, 21)
        rhythm = f"every ~{fav.typical_interval_days:.0f} days" if fav.typical_interval_days else "regularly"
        timing = f"overdue by {-next_in:.0f} days" if next_in < 0 else f"due in {next_in:.0f} days"
        confidence = min(0.9, 0.6 + 0.05 * min(fav.count, 6))
        return _Plan(
            strategy="favourite",
            offer_type="percent_off_item",
            item=item,
            discount_pct=pct,
            expires_in_days=expires,
            confidence=confidence,
            rationale=(
                f"Orders {item.name} {rhythm} ({fav.count} times); the next one is {timing}. A modest {pct}% off"
                f" nudges the habit at the right moment and keeps {margin_after_discount(item, pct):.0%} margin."
                f" Expires in {expires} days, just after the expected order."
            ),
        ), ""

    def _bonus_points(self, inp: DraftInput, eligible: dict[str, CatalogFact]) -> tuple[_Plan | None, str]:
        f = inp.features
        gap = f.points_to_next_tier
        if gap is None or f.next_tier is None or gap <= 0:
            return None, "No tier within reach."
        if gap > BONUS_POINTS_MAX_GAP:
            return None, f"Next tier is {gap} points away: too far for a nudge."
        if f.visits_12m < 2:
            return None, "Near a tier but not yet a returning guest."
        bonus = max(50, math.ceil(gap / 25) * 25)
        if bonus * inp.limits.point_value_cents > inp.limits.max_offer_value_cents:
            return None, "Points needed for the next tier exceed the offer value cap."
        expires = _clamp((f.expected_next_visit_in_days or f.avg_interval_days or 14) + 7, 7, 30)
        return _Plan(
            strategy="bonus_points",
            offer_type="bonus_points",
            bonus_points=bonus,
            next_tier=f.next_tier,
            expires_in_days=expires,
            confidence=0.75,
            rationale=(
                f"{gap} points short of {f.next_tier}: {bonus} bonus points added now lift them to the new tier"
                " and give them a reason to come back."
                f" Costs about {format_money(bonus * inp.limits.point_value_cents)} and no menu margin. Valid"
                f" {expires} days, past the expected next visit."
            ),
        ), ""

    def _complement(self, inp: DraftInput, eligible: dict[str, CatalogFact]) -> tuple[_Plan | None, str]:
        f = inp.features
        last = inp.offer_history.last_offer_days_ago
        if last is not None and last < COMPLEMENT_MIN_DAYS_SINCE_OFFER:
            return None, f"Last offer was {last} days ago; a cross-sell can wait."
        tried = {fav.sku for fav in f.favourite_items} | {line.sku for line in inp.transaction}
        tried |= set(inp.purchased_skus)
        candidates = [
            c for c in inp.complements if c.sku in eligible and c.sku not in tried and c.score >= COMPLEMENT_MIN_SCORE
        ]
        if not candidates:
            return None, "No untried item that similar guests buy together."

        def appeal(c: Complement) -> tuple[float, str]:
            item = eligible[c.sku]
            add_on = 0.1 if any(_is_category(item, word) for word in ADD_ON_CATEGORIES) else 0.0
            return (min(c.score, 1.0) + 0.3 * base_margin(item) + add_on, c.sku)

        best = max(candidates, key=appeal)
        item = eligible[best.sku]
        pct = fit_discount_pct([item], want_pct=15, limits=inp.limits)
        if pct is None:
            return None, f"{item.name} fits, but no discount keeps its margin floor."
        expires = _clamp((f.expected_next_visit_in_days or f.avg_interval_days or 14) + 7, 7, 30)
        confidence = 0.5 + 0.25 * min(best.score, 1.0) + (0.1 if f.visits_12m >= 3 else 0.0)
        return _Plan(
            strategy="complement",
            offer_type="percent_off_item",
            item=item,
            discount_pct=pct,
            expires_in_days=expires,
            confidence=round(min(confidence, 0.85), 2),
            rationale=(
                f"Similar guests buy {item.name} together with what this guest orders (score {best.score:.2f}),"
                f" and they have never tried it. {pct}% off lowers the barrier to a first try and keeps"
                f" {margin_after_discount(item, pct):.0%} margin. Expires in {expires} days, after the expected"
                " next visit."
            ),
        ), ""

    # -- output ----------------------------------------------------------------------------------

    @staticmethod
    def _no_offer(rationale: str, *, confidence: float) -> DraftResult:
        return DraftResult(
            offer=OfferDraft(make_offer=False, rationale=rationale, confidence=confidence, strategy="none"),
            model=OFFLINE_MODEL_NAME,
            prompt_version=OFFLINE_RULES_VERSION,
        )

    @staticmethod
    def _channel(inp: DraftInput) -> Channel:
        if inp.consents.sms:
            return "sms"
        if inp.consents.email:
            return "email"
        return "sms"  # still drafted and recorded; the consent guardrail blocks it

    def _with_copy(self, inp: DraftInput, plan: _Plan) -> DraftResult:
        channel = self._channel(inp)
        prompt = load_prompt(f"copy_{plan.strategy}_{channel}")
        valid_until = inp.local_date + timedelta(days=plan.expires_in_days)
        values = _copy_values(plan, valid_until=valid_until)
        variants = prompt.variants()
        start = variant_index(
            pseudonym=inp.pseudonym, local_date=inp.local_date, key=plan.strategy, count=len(variants)
        )
        ordered = variants[start:] + variants[:start]
        offer = OfferDraft(
            make_offer=True,
            offer_type=plan.offer_type,
            sku=plan.item.sku if plan.item else None,
            category=plan.category or (plan.item.category if plan.item else None),
            discount_pct=plan.discount_pct,
            bonus_points=plan.bonus_points,
            expires_in_days=plan.expires_in_days,
            channel=channel,
            rationale=plan.rationale,
            confidence=round(plan.confidence, 2),
            strategy=plan.strategy,
        )
        if channel == "sms":
            offer.sms_text = _fit_sms(ordered, values)
        else:
            offer.email_subject, offer.email_body = _split_email(render_template(ordered[0], **values))
        return DraftResult(offer=offer, model=OFFLINE_MODEL_NAME, prompt_version=prompt.version)


def _category_noun(category: str) -> str:
    """"desserts" -> "dessert", "mains" -> "main course": reads naturally after "any"."""
    name = copy_safe_name(category.replace("_", " ").lower(), max_length=30)
    if name == "mains":
        return "main course"
    return name[:-1] if name.endswith("s") and not name.endswith("ss") else name


def _offer_phrase(plan: _Plan, item_name: str) -> str:
    if plan.offer_type == "free_item":
        return f"a free {item_name}"
    if plan.offer_type == "percent_off_category":
        return f"{format_pct(plan.discount_pct or 0)} off any {_category_noun(plan.category or '')}"
    if plan.offer_type == "bonus_points":
        return f"{plan.bonus_points} bonus points"
    return f"{format_pct(plan.discount_pct or 0)} off {item_name}"


def _price_line(plan: _Plan) -> str:
    item = plan.item
    if plan.offer_type == "bonus_points":
        return f"That's enough to reach {plan.next_tier}."
    if plan.offer_type == "percent_off_category":
        return f"Valid on any one item from our {plan.category}."
    if item is None:
        return ""
    if plan.offer_type == "free_item":
        return f"A {format_money(item.price_cents)} treat, on us."
    discounted = round(item.price_cents * (1 - (plan.discount_pct or 0) / 100))
    return f"Usually {format_money(item.price_cents)}, yours for {format_money(discounted)}."


def _copy_values(plan: _Plan, *, valid_until: date, name_length: int = 40) -> dict[str, str]:
    item_name = copy_safe_name(plan.item.name, max_length=name_length) if plan.item else ""
    offer = _offer_phrase(plan, item_name)
    return {
        "offer": offer,
        "offer_title": offer[:1].upper() + offer[1:],
        "price_line": _price_line(plan),
        "valid_until": f"{valid_until:%b} {valid_until.day}",
        "tier": plan.next_tier or "",
    }


def _fit_sms(variants: list[str], values: dict[str, str]) -> str:
    """The first variant (in the guest's deterministic order) that fits one SMS segment; with very
    long item names, retry with the name shortened rather than sending a two-part message."""
    for variant in variants:
        text = render_template(variant, **values)
        if sms_length_bound(text) <= SMS_MAX_LENGTH:
            return text
    shortest = min(variants, key=len)
    overflow = sms_length_bound(render_template(shortest, **values)) - SMS_MAX_LENGTH
    offer = values["offer"]
    trimmed = offer[: max(8, len(offer) - overflow - 1)].rsplit(" ", 1)[0]
    return render_template(shortest, **{**values, "offer": trimmed})


def _split_email(rendered: str) -> tuple[str, str]:
    first, _, body = rendered.partition("\n")
    subject = first.removeprefix("Subject:").strip()
    return subject, body.strip()


def structural_problems(
    offer: OfferDraft,
    *,
    eligible_skus: set[str],
    eligible_categories: set[str],
    excluded_categories: Collection[str] = (),
) -> list[str]:
    """What makes a model's offer unusable as drafted (sent back to the model in the repair turn).

    Only shape and reference problems: policy (margin, allergens, consent...) stays the guardrails'
    job, and they re-check all of this too. `excluded_categories` (DraftInput.excluded_categories) are
    categories a category offer would reach items the guest may not be offered through.
    """
    if not offer.make_offer:
        return []
    problems: list[str] = []
    kind = offer.offer_type
    if kind is None:
        return ["make_offer is true but offer_type is missing"]
    if kind in ("percent_off_item", "amount_off_item", "free_item"):
        if not offer.sku:
            problems.append(f"{kind} needs a sku")
        elif offer.sku not in eligible_skus:
            problems.append(f"sku {offer.sku!r} is not in the eligible catalog")
    if kind == "percent_off_category" and offer.category not in eligible_categories:
        problems.append(f"category {offer.category!r} is not an eligible catalog category")
    elif kind == "percent_off_category" and offer.category in excluded_categories:
        problems.append(
            f"category {offer.category!r} holds items this guest may not be offered; offer a single item instead"
        )
    if kind in ("percent_off_item", "percent_off_category") and not offer.discount_pct:
        problems.append(f"{kind} needs discount_pct above 0")
    if kind == "amount_off_item" and not offer.discount_cents:
        problems.append("amount_off_item needs discount_cents above 0")
    if kind == "bonus_points" and not offer.bonus_points:
        problems.append("bonus_points needs bonus_points above 0")
    if offer.channel == "sms" and not offer.sms_text:
        problems.append("channel is sms but sms_text is empty")
    if offer.channel == "email" and not (offer.email_subject and offer.email_body):
        problems.append("channel is email but email_subject or email_body is empty")
    return problems
