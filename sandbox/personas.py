"""Who each sandbox guest is: persona, traits, age, allergies, home location, consents, join date.

Drawn from the guest's own seeded `random.Random` (stable across processes and independent of how many
guests there are); visits and baskets continue on the same stream (`draw_profile` returns it). Personas
are ground truth for evals and never stored; `sandbox_customer_personas` regenerates them without a
database.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from sandbox.menu import MENU_BY_SKU
from sandbox.restaurant import DEFAULT_END, LOCATION_BY_ID, history_window, pos_customer_id

PERSONAS: tuple[str, ...] = (
    "regular",
    "brunch_crowd",
    "wine_lover",
    "family",
    "dessert_lover",
    "lapsed_vip",
    "one_timer",
    "business_lunch",
    "late_night_bar",
    "occasional",
)
_PERSONA_WEIGHTS: tuple[float, ...] = (0.10, 0.08, 0.06, 0.07, 0.04, 0.03, 0.24, 0.05, 0.04, 0.29)
# Personas a minor (under 21) can plausibly have; the rest are adult by construction.
_MINOR_ELIGIBLE = frozenset({"regular", "brunch_crowd", "dessert_lover", "one_timer", "occasional"})

# Regulars' signature dishes and their rhythm in days ("grilled salmon every ~3 weeks").
_SIGNATURES: tuple[tuple[str, int], ...] = (
    ("SALMON-ENTREE", 21),
    ("RIBEYE-STEAK", 14),
    ("CHEESEBURGER", 14),
    ("PAD-THAI", 18),
    ("SALMON-POKE-BOWL", 14),
    ("MARGHERITA-PIZZA", 10),
    ("FISH-AND-CHIPS", 28),
)
_SIGNATURE_WEIGHTS: tuple[float, ...] = (0.35, 0.15, 0.15, 0.12, 0.08, 0.08, 0.07)

# How often each allergen shows up among guests who declared allergies (rough US prevalence).
_ALLERGY_WEIGHTS: dict[str, float] = {
    "shellfish": 0.22,
    "tree_nuts": 0.16,
    "peanuts": 0.16,
    "milk": 0.14,
    "wheat": 0.10,
    "eggs": 0.07,
    "fish": 0.07,
    "soy": 0.04,
    "sesame": 0.04,
}
_US_TIMEZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Phoenix",
    "Pacific/Honolulu",
)


@dataclass(frozen=True, slots=True)
class GuestProfile:
    index: int
    persona: str
    traits: tuple[str, ...]
    signature_sku: str | None
    rhythm_days: int | None
    minor: bool
    birthday: date | None
    allergies: tuple[str, ...] | None
    home_location_id: str
    timezone: str
    consent_sms: bool
    consent_email: bool
    consent_alcohol_marketing: bool
    opted_out_on: date | None
    age_verified: bool
    joined: date
    lapse_on: date | None

    @property
    def labels(self) -> tuple[str, ...]:
        labels = (self.persona, *self.traits)
        return (*labels, f"signature:{self.signature_sku}") if self.signature_sku else labels

    @property
    def wine_lover(self) -> bool:
        return self.persona == "wine_lover" or "wine_lover" in self.traits

    @property
    def dessert_lover(self) -> bool:
        return self.persona == "dessert_lover" or "dessert_lover" in self.traits


def _customer_rng(seed: int, index: int) -> random.Random:
    # String seeds are hashed with SHA-512 by `random`, so this is stable across processes.
    return random.Random(f"harbor-vine:{seed}:customer:{index}")


_ADULT_AGE_RANGE: dict[str, tuple[int, int]] = {
    "regular": (24, 72),
    "brunch_crowd": (24, 45),
    "wine_lover": (30, 72),
    "family": (30, 50),
    "dessert_lover": (22, 70),
    "lapsed_vip": (38, 70),
    "one_timer": (22, 75),
    "business_lunch": (27, 62),
    "late_night_bar": (22, 36),
    "occasional": (22, 80),
}


def draw_profile(seed: int, index: int, start: date, end: date) -> tuple[GuestProfile, random.Random]:
    """Everything about a customer that does not depend on their transactions.

    Returns the rng too: visits and baskets continue on the same stream, so the profile
    alone (for ground truth) costs a handful of draws.
    """
    rng = _customer_rng(seed, index)
    persona = rng.choices(PERSONAS, weights=_PERSONA_WEIGHTS)[0]
    signature_sku: str | None = None
    rhythm_days: int | None = None
    if persona == "regular":
        signature_sku, rhythm_days = rng.choices(_SIGNATURES, weights=_SIGNATURE_WEIGHTS)[0]

    minor = persona in _MINOR_ELIGIBLE and rng.random() < 0.06
    traits: list[str] = []
    if persona != "dessert_lover" and rng.random() < 0.15:
        traits.append("dessert_lover")
    if not minor and persona in {"regular", "occasional", "business_lunch", "lapsed_vip"} and rng.random() < 0.12:
        traits.append("wine_lover")

    window_days = (end - start).days
    birthday: date | None
    if minor:
        birthday = end - timedelta(days=rng.randint(15 * 365 + 30, 21 * 365 - 30))
    elif rng.random() < 0.12:
        birthday = None  # never told us
    else:
        low, high = _ADULT_AGE_RANGE[persona]
        # Old enough to have been 21 for the whole window, so no adult drinks underage in history.
        min_days = max(low * 365, 21 * 366 + window_days + 30)
        birthday = end - timedelta(days=rng.randint(min_days, max(min_days, high * 365)))

    allergies: tuple[str, ...] | None
    if rng.random() < 0.40:
        allergies = None  # unknown, which is NOT the same as none
    elif rng.random() < 0.25:
        forbidden = set(MENU_BY_SKU[signature_sku].allergens) if signature_sku else set()
        names = [a for a in _ALLERGY_WEIGHTS if a not in forbidden]
        weights = [_ALLERGY_WEIGHTS[a] for a in names]
        picked = {rng.choices(names, weights=weights)[0] for _ in range(1 if rng.random() < 0.8 else 2)}
        allergies = tuple(sorted(picked))
    else:
        allergies = ()

    if persona == "late_night_bar":
        home = "loc_1"  # the campus site has no bar
    elif persona in {"wine_lover", "lapsed_vip"}:
        home = "loc_1" if rng.random() < 0.95 else "loc_2"  # the campus site pours no wine
    elif minor:
        home = "loc_2" if rng.random() < 0.7 else "loc_1"
    else:
        home = "loc_1" if rng.random() < 0.68 else "loc_2"
    home_tz = LOCATION_BY_ID[home].timezone
    timezone = home_tz if rng.random() < 0.9 else rng.choice(_US_TIMEZONES)

    consent_sms = rng.random() < 0.55
    consent_email = rng.random() < 0.65
    if minor:
        # A few minors ticked the box anyway: the alcohol guardrail must still say no.
        consent_alcohol = rng.random() < 0.08
    else:
        consent_alcohol = rng.random() < (0.70 if persona in {"wine_lover", "late_night_bar"} else 0.30)
    age_verified = (not minor) and rng.random() < 0.70

    if persona in {"lapsed_vip"} or (persona != "one_timer" and rng.random() < 0.65):
        joined = start - timedelta(days=rng.randint(1, 1500))
    elif persona == "one_timer" and rng.random() < 0.3:
        joined = start - timedelta(days=rng.randint(1, 900))
    else:
        joined = start + timedelta(days=rng.randrange(max(1, window_days)))
    lapse_on = end - timedelta(days=rng.randint(100, 220)) if persona == "lapsed_vip" else None
    opted_out_on: date | None = None
    if rng.random() < 0.04:  # texted STOP at some point after joining
        opt_out_from = max(start, joined)
        opted_out_on = opt_out_from + timedelta(days=rng.randrange(max(1, (end - opt_out_from).days)))

    profile = GuestProfile(
        index=index,
        persona=persona,
        traits=tuple(traits),
        signature_sku=signature_sku,
        rhythm_days=rhythm_days,
        minor=minor,
        birthday=birthday,
        allergies=allergies,
        home_location_id=home,
        timezone=timezone,
        consent_sms=consent_sms,
        consent_email=consent_email,
        consent_alcohol_marketing=consent_alcohol,
        opted_out_on=opted_out_on,
        age_verified=age_verified,
        joined=joined,
        lapse_on=lapse_on,
    )
    return profile, rng


def sandbox_customer_personas(
    seed: int = 42, customers: int = 2000, months: int = 12, *, end: date = DEFAULT_END
) -> dict[str, list[str]]:
    """Ground truth persona labels per pos_customer_id, without generating transactions or a DB.

    Labels: the primary persona first, then traits (`dessert_lover`, `wine_lover`), then
    `signature:<SKU>` for regulars. Matches `generate_sandbox(...)` with the same arguments.
    """
    start, end = history_window(months, end)
    return {
        pos_customer_id(index): list(draw_profile(seed, index, start, end)[0].labels)
        for index in range(1, customers + 1)
    }
