"""Pseudonymized natural-language documents for embedding and for the drafting model.

A profile document is built from the pseudonym, the tier and the behavioural features only: never
names, emails, phones, staff notes, and not allergies either (health data; the guardrails read
allergies from `CustomerFacts` directly, so the model and the vector store do not need them).

Documents are deterministic (same features -> same text) so re-embedding is skipped when nothing
changed, and they phrase behaviour in the words marketers search with ("wine lover", "brunch with
kids", "lapsed", "high spender", "always orders dessert"). Only positive statements are made: "never
orders dessert" embeds close to "orders dessert", so absence is expressed by saying nothing.

Shape, and why:
- The document opens with a short line of segment facts ("Lapsed high spender. Wine lover. Dessert
  lover.") derived only from the features. all-MiniLM-L6-v2 mean-pools at most 256 word pieces, so
  a facet buried behind dates and percentages is diluted; stated first and plainly it dominates.
- The rest is compact detail for the drafting model (favourites, drinks, rhythm, spend), without
  exact dates: they cost many word pieces and carry no meaning a search query can match.
- Habits ("wine lover", "dessert lover", "orders the same dish") are claimed only from three visits
  on: one visit with a glass of wine is a 100 % share but not a habit. Such guests get a plain
  account of what they ordered instead.
"""

from __future__ import annotations

from core.schemas import CustomerFacts
from profiles.feature_families import MIN_RHYTHM_VISITS, REGULAR_MAX_INTERVAL_DAYS, REGULAR_MIN_VISITS_12M
from profiles.features import ProfileFeatures
from profiles.visits import WEEKDAYS, Visit, day_part, zone

# Drink subcategory (as the catalog spells it) -> plain words. Unknown ones pass through with "_" as " ".
DRINK_WORDS = {
    "wine": "wine",
    "wine_red": "red wine",
    "red wine": "red wine",
    "wine_white": "white wine",
    "white wine": "white wine",
    "wine_rose": "rosé wine",
    "wine_sparkling": "sparkling wine",
    "beer": "beer",
    "cocktail": "cocktails",
    "cocktails": "cocktails",
    "mocktail": "zero-proof mocktails",
    "soft": "soft drinks",
    "coffee": "coffee",
}
# Day part -> words a marketer uses. Lunch and brunch are weekday/weekend by definition (profiles.visits.day_part).
DAY_PART_WORDS = {
    "breakfast": "breakfast",
    "brunch": "weekend brunch",
    "lunch": "weekday lunch",
    "dinner": "dinner",
    "late": "late-night (after 10pm)",
}
BAR_DRINK_WORDS = {"beer": "beer", "cocktail": "cocktail", "cocktails": "cocktail"}
SPEND_WORDS = {"high": "high spender", "mid": "average spender", "low": "light spender"}
OFTEN_SHARE = 0.3  # a habit worth mentioning
HABIT_SHARE = 0.5  # a habit that defines the guest (lead line)
ALWAYS_SHARE = 0.8
DESSERT_LOVER_SHARE = 0.6
SAME_DISH_SHARE = 0.6  # one dish on at least this share of visits: "orders the same dish"
DAY_PART_HABIT_SHARE = 0.5
FOOD_CATEGORIES = frozenset({"mains", "starters", "brunch", "entrees", "main", "starter"})


def _pct(share: float) -> str:
    return f"{round(share * 100)}%"


def _money(cents: int) -> str:
    return f"${cents / 100:,.0f}"


def _drink_words(subcategory: str) -> str:
    return DRINK_WORDS.get(subcategory, subcategory.replace("_", " "))


def _is_wine(subcategory: str) -> bool:
    return "wine" in subcategory


def wine_share(features: ProfileFeatures) -> float:
    """Share of visits with wine, estimated from the per-subcategory shares (red, white, rosé, ...).

    The features keep one share per subcategory, not the union, so the sum can exceed the true share
    when a visit has both red and white; it is capped at 1. Good enough to call someone a wine lover,
    never printed as a percentage.
    """
    return min(1.0, sum(d.share for d in features.drink_preferences if _is_wine(d.name)))


def interval_phrase(days: float) -> str:
    """'5 days', 'week', '3 weeks', 'month', '2 months', 'year' (for 'every ...')."""
    if days < 6:
        whole = max(round(days), 1)
        return "day" if whole == 1 else f"{whole} days"
    if days < 32:
        weeks = max(round(days / 7), 1)
        return "week" if weeks == 1 else f"{weeks} weeks"
    if days < 300:
        months = max(round(days / 30.4), 1)
        return "month" if months == 1 else f"{months} months"
    return "year"


def _ago_phrase(days: float) -> str:
    """'today', '5 days ago', '3 weeks ago', '4 months ago'."""
    if days < 1:
        return "today"
    phrase = interval_phrase(days)
    return f"{phrase} ago" if phrase[0].isdigit() else f"a {phrase} ago"


def _habit_day_part(features: ProfileFeatures) -> str:
    """The day part most visits fall in ('' without a clear one or with fewer than three visits)."""
    if features.visits_total < MIN_RHYTHM_VISITS:
        return ""
    share = features.day_part_shares.get(features.top_day_part, 0.0)
    return features.top_day_part if share >= DAY_PART_HABIT_SHARE else ""


def _habit_phrase(features: ProfileFeatures) -> str:
    """'mostly Friday/Saturday dinner', 'mostly weekend brunch', or '' when there is no clear pattern
    (or fewer than three visits: one or two visits are not a habit)."""
    if features.visits_total < MIN_RHYTHM_VISITS:
        return ""
    part = _habit_day_part(features)
    if features.top_weekdays and sum(features.weekday_shares[d] for d in features.top_weekdays) >= 0.5:
        days = "/".join(features.top_weekdays)
    elif features.weekend_share >= 0.6 and part != "brunch":
        days = "weekend"
    else:
        days = ""
    # "Monday lunch" already says weekday; "weekday lunch" only when no day stands out.
    part_words = (part if days or part != "lunch" else DAY_PART_WORDS[part]) if part else ""
    if part == "late":
        part_words = DAY_PART_WORDS[part]
    words = " ".join(w for w in (days, part_words) if w)
    return f"mostly {words}" if words else ""


def _same_dish(features: ProfileFeatures) -> str:
    """The food item ordered on most visits ('' when there is none or too little history)."""
    if features.visits_total < MIN_RHYTHM_VISITS:
        return ""
    for item in features.favourite_items:
        if item.category in FOOD_CATEGORIES and item.visits / features.visits_total >= SAME_DISH_SHARE:
            return item.name
    return ""


def segment_facts(features: ProfileFeatures) -> list[str]:
    """Short segment labels derived only from behaviour, most defining first.

    E.g. ["Lapsed high spender, a former regular not seen for 4 months", "Wine lover"]. These are
    what a marketer filters by; they never come from ground-truth persona labels (which production
    does not have).
    """
    facts: list[str] = []
    habit = features.visits_total >= MIN_RHYTHM_VISITS
    regular = features.lifecycle == "regular"
    if features.visits_total == 1:
        facts.append("New guest, one visit so far" if features.lifecycle == "new" else "One-time guest")
    elif features.lifecycle in {"lapsed", "at_risk"}:
        state = "Lapsed" if features.lifecycle == "lapsed" else "At-risk"
        was_regular = features.visits_12m >= REGULAR_MIN_VISITS_12M and (
            features.median_interval_days is not None and features.median_interval_days <= REGULAR_MAX_INTERVAL_DAYS
        )
        away = _ago_phrase(features.days_since_last_visit).removesuffix(" ago")
        if features.spend_tier == "high":
            who = "a big-spending former regular" if was_regular else "a big spender"
            facts.append(f"{state} high spender, {who} not seen for {away}")
        else:
            who = "former regular" if was_regular else "occasional guest"
            facts.append(f"{state} {who}, not seen for {away}")
    elif regular:
        facts.append("Loyal regular")
    elif features.lifecycle == "occasional":
        facts.append("Occasional guest")
    else:
        facts.append("New guest")

    who = "regular" if regular else "guest"
    part = _habit_day_part(features)
    if part == "late":
        facts.append(f"Late-night bar {who}")
    elif part == "lunch":
        # A weekday-lunch routine is what a marketer calls business lunch; a few lunches a year are not.
        facts.append("Weekday business lunch regular" if regular else "Weekday lunch guest")
    elif part == "brunch" and features.brunch_share >= OFTEN_SHARE:
        facts.append(f"Weekend brunch {who}")
    if features.kids_share >= OFTEN_SHARE:
        facts.append("Family with kids" + (", weekend brunch time" if part == "brunch" else ""))
    if habit:
        bar = sorted(
            {BAR_DRINK_WORDS[d.name] for d in features.drink_preferences
             if d.name in BAR_DRINK_WORDS and d.share >= HABIT_SHARE}
        )
        if bar:
            facts.append(" and ".join(bar).capitalize() + " drinker")
    wine = habit and wine_share(features) >= HABIT_SHARE
    dessert = habit and features.dessert_share >= DESSERT_LOVER_SHARE
    always = ", always orders dessert" if features.dessert_share >= ALWAYS_SHARE else ""
    if dessert:
        facts.append(f"Dessert lover{always}")
    if wine:
        facts.append("Wine lover")
    dish = _same_dish(features)
    if dish:
        facts.append(f"Orders the same dish every time: {dish}")
    return facts


def _visits_sentence(features: ProfileFeatures) -> str:
    ago = _ago_phrase(features.days_since_last_visit)
    if features.visits_total == 1:
        return f"Only visit {ago}."
    every = (
        f"about every {interval_phrase(features.median_interval_days)}"
        if features.median_interval_days is not None
        else ""
    )
    habit = _habit_phrase(features)
    rhythm = ", ".join(p for p in (every, habit) if p)
    counts = f"{features.visits_12m} visits in the last 12 months"
    if features.lifecycle in {"lapsed", "at_risk"}:
        used_to = f"; used to come {rhythm}" if rhythm else ""
        return f"Not seen for {round(features.days_since_last_visit)} days ({ago}){used_to}; {counts}."
    return f"Comes {rhythm}; {counts}, last visit {ago}." if rhythm else f"{counts.capitalize()}, last visit {ago}."


def _orders_sentences(features: ProfileFeatures) -> list[str]:
    out: list[str] = []
    if features.favourite_items:
        top = features.favourite_items[:3]
        if features.visits_total == 1:
            out.append("Ordered " + ", ".join(item.name for item in top) + ".")
        else:
            out.append("Favourites: " + ", ".join(f"{item.name} ({item.visits}x)" for item in top) + ".")
    drinks = [d for d in features.drink_preferences if d.share >= OFTEN_SHARE]
    if drinks and features.visits_total >= MIN_RHYTHM_VISITS:
        out.append("Drinks: " + ", ".join(f"{_drink_words(d.name)} ({_pct(d.share)} of visits)" for d in drinks) + ".")
    elif drinks:
        out.append("Drinks: " + ", ".join(_drink_words(d.name) for d in drinks) + ".")
    for share, what in (
        (features.dessert_share, "Dessert"),
        (features.brunch_share, "Brunch dishes"),
        (features.kids_share, "Kids' menu"),
    ):
        # A share of one or two visits is not a rate worth quoting; the items ordered say it already.
        if share >= OFTEN_SHARE and features.visits_total >= MIN_RHYTHM_VISITS:
            out.append(f"{what} on {_pct(share)} of visits.")
    rhythm = features.favourite_item_rhythm
    if rhythm is not None:
        out.append(f"Orders {rhythm.name} about every {interval_phrase(rhythm.median_interval_days)}.")
    return out


def profile_document(features: ProfileFeatures, facts: CustomerFacts) -> str:
    """The profile text embedded into the `profiles` collection and shown to the drafting model."""
    parts: list[str] = [". ".join(segment_facts(features)) + "."]
    parts.append(f"Guest {facts.pseudonym}, {facts.tier} tier.")
    parts.append(_visits_sentence(features))
    parts.extend(_orders_sentences(features))
    parts.append(
        f"{SPEND_WORDS[features.spend_tier].capitalize()}: about {_money(features.avg_spend_cents)} per visit, "
        f"{_money(features.spend_12m_cents)} in the last 12 months, "
        f"expected 12-month value {_money(features.clv_12m_cents)}."
    )
    risk = features.churn_risk
    risk_word = "low" if risk < 0.3 else "medium" if risk < 0.6 else "high"
    overdue = "; overdue for a visit" if features.next_visit_overdue else ""
    parts.append(f"Churn risk {risk_word}{overdue}.")
    return " ".join(p for p in parts if p)


def purchase_document(visit: Visit) -> str:
    """Per-visit text for the `purchases` collection, e.g. 'Saturday brunch: Eggs Benedict, Mimosa x2'."""
    local = visit.occurred_at.astimezone(zone(visit.timezone))
    items = [f"{line.name} x{line.quantity}" if line.quantity > 1 else line.name for line in visit.lines]
    return f"{WEEKDAYS[local.weekday()]} {day_part(local)}: {', '.join(items) if items else 'no items'}"
