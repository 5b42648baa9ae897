"""The offline drafter: the product on a machine with no model (LLM_PROVIDER=offline, the default)
and the fallback whenever the model is late or wrong.

It makes the decisions a restaurant marketer would make from the profile (strategies in priority
order: birthday, win-back, favourite at the right moment, bonus points towards the next tier,
complement; otherwise no offer, with the reasons spelled out) and writes the copy with
agent.copywriting. Every limit it aims inside comes from the merchant policy through
`DraftInput.limits`, checked with the rules' own tests (fatigue, margin, value, SMS length and
opt-out text), so it never drafts what the guardrails would block for a reason it could read. Nothing
it drafts is trusted either: the guardrails check it exactly like a model's draft.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from agent.copywriting import OfferPlan, write_copy
from agent.draft_input import Complement, DraftInput
from agent.drafting import DraftResult
from agent.pricing import base_margin, fit_discount_pct, margin_after_discount, points_value_cents, within_value_cap
from core.allergens import normalize_allergens
from core.offer_words import money
from core.schemas import CatalogFact, Channel, OfferDraft
from guardrails.fatigue import fatigue_violations

if TYPE_CHECKING:
    from agent.read_tools import ReadToolContext

OFFLINE_MODEL_NAME = "offline-drafter"
# Bumped by hand when the decision rules change (the copy templates carry their own versions).
OFFLINE_RULES_VERSION = "offline-rules@5"

# Decision thresholds, named so the rationale and the tests speak the same language. They are the
# marketer's judgement, not merchant limits: the policy's limits arrive in DraftInput.limits.
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
JUST_VISITED_OFFER_COOLDOWN_DAYS = 7
ADD_ON_CATEGORIES = ("dessert", "side", "starter", "appetizer", "drink", "coffee")


Strategy = Callable[[DraftInput, dict[str, CatalogFact]], tuple[OfferPlan | None, str]]


def _clamp(value: float, low: int, high: int) -> int:
    return int(max(low, min(high, round(value))))


def _is_category(item: CatalogFact, word: str) -> bool:
    return word in item.category.lower() or word in (item.subcategory or "").lower()


class OfflineDrafter:
    """Deterministic, marketer-grade drafter. Strategies in priority order: birthday, win-back,
    favourite at the right moment, bonus points towards the next tier, complement; otherwise no
    offer, with the reasons spelled out in the rationale."""

    model_name = OFFLINE_MODEL_NAME
    reads_staff_notes = False  # decisions are made on facts; batch callers skip pseudonymizing notes for it

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
        channels, fatigued = self._open_channels(inp)
        if not channels:
            return self._no_offer(f"No offer: the merchant's fatigue limits are reached ({fatigued}).", confidence=0.85)
        reasons: list[str] = []
        for strategy in self._strategies(inp):
            plan, reason = strategy(inp, eligible)
            if plan is None:
                reasons.append(reason)
                continue
            result = self._with_copy(inp, plan, channels)
            if result is not None:
                return result
            reasons.append(
                f"A {plan.strategy} offer fits, but no copy template fits the merchant's"
                f" {'/'.join(channels)} limits (length, opt-out text)."
            )
        if inp.features.visits_12m <= 1:
            summary = "First-time or occasional guest with no strong signal yet; an unprompted discount would"
            summary += " only train them to wait for one."
            return self._no_offer(summary + " Details: " + " ".join(reasons), confidence=0.75)
        return self._no_offer("Nothing fits right now. " + " ".join(reasons), confidence=0.7)

    def _strategies(self, inp: DraftInput) -> tuple[Strategy, ...]:
        """Every strategy in priority order for a sale; for a campaign, only the one its trigger calls for
        (the campaign's eligibility already judged the trigger: the drafter picks item, discount, copy)."""
        campaign = inp.campaign
        if campaign is None:
            return (self._birthday, self._win_back, self._favourite, self._bonus_points, self._complement)
        if campaign.kind == "tier":
            return (self._bonus_points,) if campaign.trigger in (None, "milestone") else (self._tier_notice,)
        return ({"next_visit": self._favourite, "win_back": self._win_back, "birthday": self._birthday}[campaign.kind],)

    # -- filters ---------------------------------------------------------------------------------

    @staticmethod
    def _forbidden_for_guest(inp: DraftInput) -> Callable[[CatalogFact], bool]:
        """Whether an item is one this guest must not be offered (alcohol or allergens), as far as the
        drafter can tell; the guardrails re-check all of it."""
        if inp.allergies is None:
            allergies = normalize_allergens(inp.limits.excluded_allergens_when_unknown)
        else:
            allergies = normalize_allergens(inp.allergies)
        alcohol_ok = inp.consents.alcohol_allowed

        def forbidden(item: CatalogFact) -> bool:
            if item.contains_alcohol and not alcohol_ok:
                return True
            return bool(allergies & normalize_allergens(item.allergens))

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
        """The marketer's own restraint, stricter than any policy: not a fourth offer in a month, and no
        second offer to a guest who is here today and already holds a recent one."""
        history = inp.offer_history
        if history.offers_last_30d >= MAX_OFFERS_30D:
            return (
                f"No offer: the guest already received {history.offers_last_30d} offers in the last 30 days;"
                " more would feel like spam."
            )
        last = history.last_offer_days_ago
        just_visited = bool(inp.transaction) or inp.features.days_since_last_visit == 0
        if just_visited and last is not None and last < JUST_VISITED_OFFER_COOLDOWN_DAYS:
            return (
                f"No offer: the guest is here today and already holds an offer from {last} days ago;"
                " another one now would only discount a visit that is happening anyway."
            )
        return None

    @staticmethod
    def _open_channels(inp: DraftInput) -> tuple[list[Channel], str]:
        """Consented channels, SMS first, on which one more message keeps the policy's fatigue gaps and
        caps at the planned send time (the fatigue rule's own test); and why the others are closed."""
        consented: list[Channel] = [c for c in ("sms", "email") if getattr(inp.consents, c)]
        open_channels: list[Channel] = []
        closed: list[str] = []
        for channel in consented:
            violations, _counts = fatigue_violations(
                inp.history, send_at=inp.planned_send_at, channel=channel, policy=inp.limits.fatigue
            )
            if violations:
                closed.append(f"{channel}: {'; '.join(violations)}")
            else:
                open_channels.append(channel)
        return open_channels, "; ".join(closed)

    @staticmethod
    def _sort_key_margin(item: CatalogFact, allergies_unknown: bool) -> tuple[float, int, str]:
        """Higher margin first; when allergies are unknown prefer items with fewer allergens."""
        penalty = len(item.allergens) * 0.05 if allergies_unknown else 0.0
        return (-(base_margin(item) - penalty), item.price_cents, item.sku)

    # -- strategies ------------------------------------------------------------------------------

    def _birthday(self, inp: DraftInput, eligible: dict[str, CatalogFact]) -> tuple[OfferPlan | None, str]:
        days = inp.features.birthday_in_days
        # A birthday-month campaign may reach a guest whose birthday was earlier this month.
        this_month = inp.campaign is not None and days is not None and days > BIRTHDAY_WINDOW_DAYS
        if days is None or not (this_month or 0 <= days <= BIRTHDAY_WINDOW_DAYS):
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
        expires = 14 if this_month else _clamp(days + 7, 7, 45)
        when = "this month" if this_month else "today" if days == 0 else f"in {days} days"
        if inp.limits.free_item_max_price_cents >= item.price_cents and within_value_cap(item.price_cents, inp.limits):
            return OfferPlan(
                strategy="birthday",
                offer_type="free_item",
                item=item,
                expires_in_days=expires,
                confidence=0.85 if liked else 0.8,
                rationale=(
                    f"Birthday {when}: a free dessert is a low-cost, high-goodwill treat. {why_item}, worth"
                    f" {money(item.price_cents)}. Valid {expires} days so it covers the celebration."
                ),
            ), ""
        pct = fit_discount_pct([item], want_pct=25, limits=inp.limits)
        if pct is None:
            return None, f"Birthday {when}, but no dessert discount keeps the margin floor."
        return OfferPlan(
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

    def _win_back(self, inp: DraftInput, eligible: dict[str, CatalogFact]) -> tuple[OfferPlan | None, str]:
        f = inp.features
        if inp.campaign is None and not (f.lapsed or f.churn_risk >= WIN_BACK_CHURN_RISK):
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
        lapse += f", churn risk {f.churn_risk:.0%}, average spend {money(f.spend_per_visit_cents)} per visit."
        expires = _clamp(f.avg_interval_days or 21, 14, 30)
        confidence = min(0.75, 0.55 + 0.02 * min(f.visits_12m, 10))
        if f.p_alive < 0.2:
            confidence = 0.5  # probably gone for good: worth a reviewer's look before spending on it
        def win_back_pct(items: list[CatalogFact]) -> int | None:
            return fit_discount_pct(items, want_pct=want, limits=inp.limits, max_value_cents=WIN_BACK_MAX_VALUE_CENTS,
                                    min_pct=WIN_BACK_MIN_PCT)

        def item_plan(item: CatalogFact, pct: int, plan_confidence: float, rationale: str) -> OfferPlan:
            return OfferPlan(strategy="win_back", offer_type="percent_off_item", item=item, discount_pct=pct,
                         expires_in_days=expires, confidence=plan_confidence, rationale=rationale)

        for fav in sorted(f.favourite_items, key=lambda it: (-it.count, it.sku)):
            item = eligible.get(fav.sku)
            if item is None or (pct := win_back_pct([item])) is None:
                continue
            return item_plan(item, pct, confidence, (
                f"{lapse} A bigger incentive on their favourite, {item.name} (ordered {fav.count} times):"
                f" {pct}% off, worth at most {money(item.price_cents * pct / 100)}, keeps"
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
            return OfferPlan(
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

    def _favourite(self, inp: DraftInput, eligible: dict[str, CatalogFact]) -> tuple[OfferPlan | None, str]:
        f = inp.features
        just_bought = {line.sku for line in inp.transaction}
        campaign_sku = inp.campaign.sku if inp.campaign is not None else None  # next-visit: the rhythm's item
        due = [
            fav
            for fav in f.favourite_items
            if fav.sku in eligible
            and fav.sku not in just_bought
            and fav.count >= 2
            and (
                fav.sku == campaign_sku
                if campaign_sku is not None
                else fav.next_expected_in_days is not None and fav.next_expected_in_days <= FAVOURITE_DUE_WINDOW_DAYS
            )
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
        return OfferPlan(
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

    def _bonus_points(self, inp: DraftInput, eligible: dict[str, CatalogFact]) -> tuple[OfferPlan | None, str]:
        f = inp.features
        gap = f.points_to_next_tier
        if gap is None or f.next_tier is None or gap <= 0:
            return None, "No tier within reach."
        if gap > BONUS_POINTS_MAX_GAP:
            return None, f"Next tier is {gap} points away: too far for a nudge."
        if f.visits_12m < 2:
            return None, "Near a tier but not yet a returning guest."
        bonus = max(50, math.ceil(gap / 25) * 25)
        if not within_value_cap(points_value_cents(bonus, inp.limits), inp.limits):
            return None, "Points needed for the next tier exceed the offer value cap."
        expires = _clamp((f.expected_next_visit_in_days or f.avg_interval_days or 14) + 7, 7, 30)
        return OfferPlan(
            strategy="bonus_points",
            offer_type="bonus_points",
            bonus_points=bonus,
            next_tier=f.next_tier,
            expires_in_days=expires,
            confidence=0.75,
            rationale=(
                f"{gap} points short of {f.next_tier}: {bonus} bonus points added now lift them to the new tier"
                " and give them a reason to come back."
                f" Costs about {money(bonus * inp.limits.point_value_cents)} and no menu margin. Valid"
                f" {expires} days, past the expected next visit."
            ),
        ), ""

    def _tier_notice(self, inp: DraftInput, eligible: dict[str, CatalogFact]) -> tuple[OfferPlan | None, str]:
        """Campaign only (points about to lapse, a tier no longer earned): a modest discount on a favourite."""
        campaign = inp.campaign
        trigger = campaign.trigger if campaign is not None else None
        if trigger not in ("points_expiring", "downgrade"):
            return None, "No tier notice due."
        favourites = [eligible[fav.sku] for fav in inp.features.favourite_items if fav.sku in eligible]
        for item in favourites:
            pct = fit_discount_pct([item], want_pct=10, limits=inp.limits)
            if pct is None:
                continue
            why = "their points lapse without a visit soon" if trigger == "points_expiring" else (
                f"their {inp.features.tier} tier is above what the last year's spend earns")
            return OfferPlan(
                strategy="tier_notice",
                offer_type="percent_off_item",
                item=item,
                discount_pct=pct,
                expires_in_days=21,
                confidence=0.7,
                next_tier=inp.features.tier,  # the tier they hold, named in the copy
                rationale=(
                    f"Tier notice: {why}. {pct}% off their favourite, {item.name}, keeps"
                    f" {margin_after_discount(item, pct):.0%} margin and gives a reason to come back within 21 days."
                ),
            ), ""
        return None, "Tier notice due, but no favourite item can carry a discount."

    def _complement(self, inp: DraftInput, eligible: dict[str, CatalogFact]) -> tuple[OfferPlan | None, str]:
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
        return OfferPlan(
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

    def _with_copy(self, inp: DraftInput, plan: OfferPlan, channels: list[Channel]) -> DraftResult | None:
        """The plan as an offer with copy on the first open channel whose limits the copy fits."""
        for channel in channels:
            written = write_copy(plan, channel=channel, limits=inp.limits, pseudonym=inp.pseudonym,
                                 local_date=inp.local_date)
            if written is None:
                continue
            offer = OfferDraft(
                make_offer=True,
                offer_type=plan.offer_type,
                sku=plan.item.sku if plan.item else None,
                category=plan.category or (plan.item.category if plan.item else None),
                discount_pct=plan.discount_pct,
                bonus_points=plan.bonus_points,
                expires_in_days=plan.expires_in_days,
                channel=channel,
                sms_text=written.sms_text,
                email_subject=written.email_subject,
                email_body=written.email_body,
                rationale=plan.rationale,
                confidence=round(plan.confidence, 2),
                strategy=plan.strategy,
            )
            return DraftResult(offer=offer, model=OFFLINE_MODEL_NAME, prompt_version=written.prompt_version)
        return None
