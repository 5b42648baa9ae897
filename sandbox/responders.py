"""How sandbox guests respond to outreach, with known probabilities: the ground truth a campaign report must
recover.

Each guest comes in on a given day with a daily probability (their hazard) that depends on their persona
(the generator's rhythm: a salmon regular every ~21 days comes 1/21 of days) and, while they hold an offer that
reached them and has not expired, on the campaign kind's response (`RESPONSES`): the hazard is multiplied and
raised, and on each visit they redeem each code they hold with a known probability. Everything is a function
of (guest, day, offers held), drawn from a random stream seeded by (seed, guest, day), so a simulation is
reproducible and its true effect is computable exactly (`visit_probability`, `redeem_probability`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sandbox.personas import GuestProfile

# 1 / the persona's typical days between visits (sandbox.visits' rhythms); regulars use their own rhythm.
BASE_DAILY_VISIT: dict[str, float] = {
    "brunch_crowd": 1 / 22,
    "wine_lover": 1 / 18,
    "family": 1 / 26,
    "dessert_lover": 1 / 21,
    "lapsed_vip": 1 / 9,
    "one_timer": 1 / 500,
    "business_lunch": 1 / 16,
    "late_night_bar": 1 / 18,
    "occasional": 1 / 80,
}
LAPSED_DAILY_VISIT = 1 / 250  # a lapsed VIP after their lapse: rarely, unless won back
MAX_DAILY_VISIT = 0.9


@dataclass(frozen=True)
class Response:
    """A reached guest's hazard becomes min(MAX, base * multiplier + bump) while the offer is valid; each visit
    redeems the code with `redeem_per_visit`."""

    multiplier: float
    bump: float
    redeem_per_visit: float


RESPONSES: dict[str, Response] = {
    "next_visit": Response(multiplier=1.6, bump=0.0, redeem_per_visit=0.75),
    "win_back": Response(multiplier=1.0, bump=0.02, redeem_per_visit=0.8),
    "birthday": Response(multiplier=1.3, bump=0.01, redeem_per_visit=0.7),
    "tier": Response(multiplier=1.2, bump=0.005, redeem_per_visit=0.6),
}


@dataclass(frozen=True)
class HeldOffer:
    """A campaign offer that reached the guest: from when it counts, until when its code is valid."""

    campaign_id: str
    kind: str
    reached_at: datetime
    expires_at: datetime
    code: str | None  # None: bonus points, nothing to redeem
    sku: str | None
    category: str | None
    discount_pct: float | None
    discount_cents: int | None

    def active(self, day_start: datetime) -> bool:
        """Counts from the first whole day after it reached the guest, while not expired."""
        return self.reached_at <= day_start < self.expires_at


def base_hazard(profile: GuestProfile, on: date) -> float:
    if profile.persona == "regular":
        return 1 / (profile.rhythm_days or 14)
    if profile.persona == "lapsed_vip" and profile.lapse_on is not None and on >= profile.lapse_on:
        return LAPSED_DAILY_VISIT
    return BASE_DAILY_VISIT[profile.persona]


def hazard(profile: GuestProfile, day_start: datetime, held: Sequence[HeldOffer]) -> float:
    """The guest's probability of coming in on the day starting at `day_start`: the strongest response of
    the offers they hold then, else their base rhythm."""
    base = base_hazard(profile, day_start.date())
    lifted = [min(MAX_DAILY_VISIT, base * RESPONSES[o.kind].multiplier + RESPONSES[o.kind].bump)
              for o in held if o.active(day_start)]
    return max([base, *lifted])


def day_rng(seed: int, customer_id: int, day: date) -> random.Random:
    return random.Random(f"harbor-vine:respond:{seed}:{customer_id}:{day.isoformat()}")


def draw_visit(rng: random.Random, probability: float) -> bool:
    return rng.random() < probability


def draw_redeem(rng: random.Random, offer: HeldOffer) -> bool:
    return offer.code is not None and rng.random() < RESPONSES[offer.kind].redeem_per_visit


def visit_probability(profile: GuestProfile, day_starts: Sequence[datetime], held: Sequence[HeldOffer]) -> float:
    """Chance of at least one visit over these days (what the report's visit rate estimates per guest)."""
    stay_away = 1.0
    for day_start in day_starts:
        stay_away *= 1 - hazard(profile, day_start, held)
    return 1 - stay_away


def redeem_probability(profile: GuestProfile, day_starts: Sequence[datetime], held: Sequence[HeldOffer],
                       offer: HeldOffer) -> float:
    """Chance `offer`'s code is redeemed over these days (a visit on a day it is valid, then the redeem draw)."""
    if offer.code is None:
        return 0.0
    keep = 1.0
    redeem = RESPONSES[offer.kind].redeem_per_visit
    for day_start in day_starts:
        if offer.active(day_start):
            keep *= 1 - hazard(profile, day_start, held) * redeem
    return 1 - keep
