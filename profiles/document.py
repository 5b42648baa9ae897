"""Pseudonymized natural-language documents for embedding and for the drafting model.

A profile document is built from the pseudonym, the tier and the behavioural features only: never
names, emails, phones, staff notes, and not allergies either (health data; the guardrails read
allergies from `CustomerFacts` directly, so the model and the vector store do not need them).

Documents are deterministic (same features -> same text) so re-embedding is skipped when nothing
changed, and they phrase behaviour in the words marketers search with ("wine lover", "brunch with
kids", "lapsed", "high spender", "always orders dessert"). Only positive statements are made: "never
orders dessert" embeds close to "orders dessert", so absence is expressed by saying nothing.
"""

from __future__ import annotations

from datetime import datetime

from loyalty_agent.schemas import CustomerFacts
from profiles.features import MIN_RHYTHM_VISITS, WEEKDAYS, ProfileFeatures, Visit, day_part, zone

# Drink subcategory -> how a marketer would describe someone who often orders it.
DRINK_LABELS = {
    "wine": "Wine lover",
    "red wine": "Wine lover",
    "white wine": "Wine lover",
    "beer": "Beer drinker",
    "cocktail": "Cocktail fan",
    "cocktails": "Cocktail fan",
    "coffee": "Coffee lover",
}
OFTEN_SHARE = 0.3  # a habit worth mentioning
ALWAYS_SHARE = 0.8


def _pct(share: float) -> str:
    return f"{round(share * 100)}%"


def _money(cents: int) -> str:
    return f"${cents / 100:,.0f}"


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


def _local_date(at: datetime, timezone: str) -> str:
    return at.astimezone(zone(timezone)).date().isoformat()


def _habit_phrase(features: ProfileFeatures) -> str:
    """'mostly Friday/Saturday dinner', 'mostly weekend brunch', or '' when there is no clear pattern
    (or fewer than three visits: one or two visits are not a habit)."""
    if features.visits_total < MIN_RHYTHM_VISITS:
        return ""
    part_share = features.day_part_shares.get(features.top_day_part, 0.0)
    part = features.top_day_part if part_share >= 0.4 else ""
    if features.top_weekdays and sum(features.weekday_shares[d] for d in features.top_weekdays) >= 0.5:
        days = "/".join(features.top_weekdays)
    elif features.weekend_share >= 0.6:
        days = "weekend"
    else:
        days = ""
    words = " ".join(w for w in (days, part) if w)
    return f"mostly {words}" if words else ""


def _lifecycle_sentence(features: ProfileFeatures) -> str:
    every = (
        f"visits about every {interval_phrase(features.median_interval_days)}"
        if features.median_interval_days is not None
        else ""
    )
    habit = _habit_phrase(features)
    tail = ", ".join(p for p in (every, habit) if p)
    tail = f", {tail}" if tail else ""
    since = round(features.days_since_last_visit)
    match features.lifecycle:
        case "regular":
            return f"Regular{tail}."
        case "occasional":
            return f"Occasional guest{tail}."
        case "new":
            return f"New guest, first visit {since} days ago{', ' + habit if habit else ''}."
        case "at_risk":
            return f"At risk of churning, last visit {since} days ago{tail}."
        case "lapsed":
            return f"Lapsed guest, last visit {since} days ago{tail}."
    return ""


def profile_document(features: ProfileFeatures, facts: CustomerFacts) -> str:
    """The profile text embedded into the `profiles` collection and shown to the drafting model."""
    tz = facts.timezone
    parts: list[str] = [f"Guest {facts.pseudonym} ({facts.tier} tier).", _lifecycle_sentence(features)]
    parts.append(f"{features.visits_12m} visits in the last 12 months, {features.visits_total} in total.")

    if features.favourite_items:
        favourites = ", ".join(f"{item.name} ({item.visits}x)" for item in features.favourite_items[:3])
        parts.append(f"Favourites: {favourites}.")
    if features.favourite_categories:
        parts.append("Mostly orders " + ", ".join(c.name for c in features.favourite_categories) + ".")

    for drink in features.drink_preferences:
        if drink.share >= OFTEN_SHARE:
            label = DRINK_LABELS.get(drink.name)
            prefix = f"{label}: often" if label else "Often"
            parts.append(f"{prefix} orders {drink.name} ({_pct(drink.share)} of visits).")
    if features.alcohol_share >= OFTEN_SHARE:
        parts.append(f"Orders alcohol on {_pct(features.alcohol_share)} of visits.")
    if features.dessert_share >= ALWAYS_SHARE:
        parts.append(f"Always orders dessert ({_pct(features.dessert_share)} of visits).")
    elif features.dessert_share >= OFTEN_SHARE:
        parts.append(f"Orders dessert on {_pct(features.dessert_share)} of visits.")
    if features.brunch_share >= OFTEN_SHARE:
        parts.append(f"Brunch dishes on {_pct(features.brunch_share)} of visits.")
    if features.kids_share >= OFTEN_SHARE:
        parts.append(f"Often comes with kids (kids' menu on {_pct(features.kids_share)} of visits).")
    occasion = features.top_occasion
    if occasion is not None and occasion.share >= OFTEN_SHARE:
        with_kids = " with kids" if occasion.kids_share >= 0.5 else ""
        parts.append(f"Typical visit: {occasion.day_part}{with_kids} on {occasion.weekday}s.")

    rhythm = features.favourite_item_rhythm
    if rhythm is not None:
        parts.append(
            f"Orders {rhythm.name} about every {interval_phrase(rhythm.median_interval_days)}"
            f" (next expected around {_local_date(rhythm.next_expected_at, tz)})."
        )

    tier_word = {"high": "High spender", "mid": "Average spender", "low": "Light spender"}[features.spend_tier]
    parts.append(
        f"{tier_word}: about {_money(features.avg_spend_cents)} per visit, "
        f"{_money(features.spend_12m_cents)} in the last 12 months; "
        f"expected 12-month value {_money(features.clv_12m_cents)}."
    )
    risk = features.churn_risk
    risk_word = "low" if risk < 0.3 else "medium" if risk < 0.6 else "high"
    next_visit = "overdue for a visit; " if features.next_visit_overdue else ""
    parts.append(
        f"Last visit {_local_date(features.last_visit_at, tz)}; {next_visit}next visit expected around "
        f"{_local_date(features.expected_next_visit_at, tz)}. Churn risk {risk_word} ({_pct(risk)})."
    )
    return " ".join(p for p in parts if p)


def purchase_document(visit: Visit) -> str:
    """Per-visit text for the `purchases` collection, e.g. 'Saturday brunch: Eggs Benedict, Mimosa x2'."""
    local = visit.occurred_at.astimezone(zone(visit.timezone))
    items = [f"{line.name} x{line.quantity}" if line.quantity > 1 else line.name for line in visit.lines]
    return f"{WEEKDAYS[local.weekday()]} {day_part(local)}: {', '.join(items) if items else 'no items'}"
