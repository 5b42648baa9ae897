"""Merchant guardrail policy: a YAML file validated by pydantic.

A bad policy must stop the service at start-up with a message naming the offending field, never
be half-applied: every model forbids unknown fields (a typo such as `max_discount_pc` would
otherwise silently fall back to a default) and `load_policy` turns validation errors into one
`PolicyError` listing `field.path: problem` lines.
"""

from __future__ import annotations

from datetime import time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.allergens import TOP9_ALLERGENS, normalize_allergen
from core.schemas import MAX_EMAIL_SUBJECT_CHARS, Channel, OfferType
from core.sms import GSM7_SEGMENT_UNITS, UCS2_SEGMENT_UNITS, sms_length
from guardrails.campaign_policy import CampaignPolicy

DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.yaml")

RuleName = Literal[
    "structure",
    "margin",
    "discount",
    "offer_value",
    "allergens",
    "alcohol",
    "consent",
    "fatigue",
    "quiet_hours",
    "copy",
    "escalation",
]

# Blocks of these rules protect a guest's safety or legal rights (allergy, legal age, consent) or
# mean the offer cannot be executed at all; a reviewer must not be able to wave them through.
HARD_RULES: frozenset[str] = frozenset({"structure", "allergens", "alcohol", "consent", "copy"})

ALL_OFFER_TYPES: tuple[OfferType, ...] = (
    "percent_off_item",
    "amount_off_item",
    "free_item",
    "percent_off_category",
    "bonus_points",
)


class PolicyError(ValueError):
    """The policy file is missing, unreadable or invalid; the message names the offending fields."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FatigueCap(_Strict):
    """At most `max_messages` offers on `channel` ("all" = any channel) per rolling `window_days`."""

    channel: Channel | Literal["all"]
    max_messages: int = Field(ge=0)
    window_days: int = Field(ge=1, le=365)


class FatiguePolicy(_Strict):
    min_hours_between_any: float = Field(default=48, ge=0)
    counted_statuses: tuple[str, ...] = ("sent", "scheduled", "pending_review")
    caps: tuple[FatigueCap, ...] = (
        FatigueCap(channel="sms", max_messages=2, window_days=7),
        FatigueCap(channel="email", max_messages=3, window_days=7),
        FatigueCap(channel="all", max_messages=4, window_days=14),
    )


class QuietHoursPolicy(_Strict):
    """Local-time window in which nothing is sent; offers are deferred to `end`, never dropped."""

    start: time = time(21, 0)
    end: time = time(9, 0)
    default_timezone: str = Field(
        default="America/New_York", description="Used when a customer's timezone is unknown or invalid."
    )

    @field_validator("start", "end", mode="before")
    @classmethod
    def _quoted_time(cls, value: Any) -> Any:
        # Unquoted 21:00 is the integer 1260 in YAML 1.1; pydantic would read it as seconds.
        if isinstance(value, int | float):
            raise ValueError("write times as quoted 'HH:MM' strings, e.g. '21:00'")
        return value

    @field_validator("default_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA timezone {value!r}") from exc
        return value


class SmsPolicy(_Strict):
    """How long one SMS may be and what it must say.

    Lengths are in encoding units (core.sms). `max_length` is the budget of a text that fits GSM-7
    (160 = one segment). A text that needs UCS-2 (any character outside GSM-7, in the copy or in the
    guest's name) gets `max_length_unicode` (70 = one segment), and never more than the same share of
    a UCS-2 segment that `max_length` is of a GSM-7 one: a merchant who keeps 20 of 160 characters
    spare keeps the same share spare in UCS-2 (max_length 140 -> 61). Copy is measured with
    {first_name} and {promo_code} expanded to their budgets; the SMS that leaves the outbox is
    measured again with the real values and must fit too.
    """

    max_length: int = Field(default=160, ge=20, le=1600)
    max_length_unicode: int = Field(default=70, ge=20, le=1600)
    opt_out_text: str = Field(default="Reply STOP to opt out", min_length=4, max_length=60)
    first_name_budget: int = Field(default=12, ge=0, le=64)
    promo_code_length: int = Field(default=10, ge=0, le=64)

    def limit_for(self, *, gsm: bool) -> int:
        """The most units one message may use in its encoding (see the class docstring)."""
        if gsm:
            return self.max_length
        return min(self.max_length_unicode, self.max_length * UCS2_SEGMENT_UNITS // GSM7_SEGMENT_UNITS)

    def measure(self, text: str) -> tuple[int, int, bool]:
        """(length, limit, GSM-7?) of a finished text, placeholders already filled."""
        length, gsm = sms_length(text)
        return length, self.limit_for(gsm=gsm), gsm

    def fits(self, text: str) -> bool:
        """Whether a finished text is within the limit of its encoding."""
        length, limit, _gsm = self.measure(text)
        return length <= limit


class EmailPolicy(_Strict):
    max_subject_length: int = Field(default=120, ge=10, le=MAX_EMAIL_SUBJECT_CHARS)


class AlcoholPolicy(_Strict):
    marketing_enabled: bool = True
    legal_age: int = Field(default=21, ge=16, le=30)


class EscalationPolicy(_Strict):
    high_value_tiers: tuple[str, ...] = ("vip",)
    high_value_clv_cents: int = Field(default=150_000, ge=0)
    offer_value_threshold_cents: int = Field(default=1000, ge=0)
    min_confidence: float = Field(default=0.6, ge=0, le=1)
    known_offer_types: tuple[OfferType, ...] = ALL_OFFER_TYPES


class RuleOverride(_Strict):
    """`escalate_instead_of_block`: this rule's blocks go to a reviewer instead (soft rules only).
    `escalate`: every offer this rule applies to goes to a reviewer even when it passes."""

    escalate_instead_of_block: bool = False
    escalate: bool = False


class Policy(_Strict):
    """The whole merchant policy. Defaults equal guardrails/default_policy.yaml."""

    min_margin_pct: float = Field(default=30, ge=0, lt=100)
    max_discount_pct: float = Field(default=30, ge=0, le=100)
    max_offer_value_cents: int = Field(default=1500, ge=0)
    point_value_cents: float = Field(default=1, ge=0)
    free_item_max_price_cents: int = Field(default=0, ge=0)
    allow_unknown_allergy_offers_on_top9: bool = False
    unknown_allergy_action: Literal["block", "escalate"] = "block"
    # Written in any spelling of core.allergens ("dairy", "gluten"); stored in its canonical names.
    top9_allergens: tuple[str, ...] = TOP9_ALLERGENS
    alcohol: AlcoholPolicy = AlcoholPolicy()
    fatigue: FatiguePolicy = FatiguePolicy()
    quiet_hours: QuietHoursPolicy = QuietHoursPolicy()
    sms: SmsPolicy = SmsPolicy()
    email: EmailPolicy = EmailPolicy()
    escalation: EscalationPolicy = EscalationPolicy()
    # A sale received more than this after it happened (POS retries, backfills) updates the guest's
    # profile but gets no offer: thanking someone for a visit days ago reads as surveillance or spam.
    realtime_window: timedelta = Field(default=timedelta(hours=3), gt=timedelta(0), le=timedelta(days=30))
    campaigns: CampaignPolicy = CampaignPolicy()
    rules: dict[RuleName, RuleOverride] = Field(default_factory=dict)

    @field_validator("top9_allergens")
    @classmethod
    def _canonical_allergens(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        names = [normalize_allergen(name) for name in value]
        if not all(names):
            raise ValueError("allergen names must not be empty")
        return tuple(dict.fromkeys(names))

    @model_validator(mode="after")
    def _hard_rules_stay_hard(self) -> Policy:
        softened = sorted(
            name for name, override in self.rules.items() if override.escalate_instead_of_block
        )
        hard = [name for name in softened if name in HARD_RULES]
        if hard:
            raise ValueError(
                f"rules.{hard[0]}.escalate_instead_of_block: blocks of {', '.join(hard)} protect guest "
                "safety or consent and cannot be turned into escalations"
            )
        return self

    def override_for(self, rule: str) -> RuleOverride:
        return self.rules.get(rule, _NO_OVERRIDE)  # type: ignore[call-overload]


_NO_OVERRIDE = RuleOverride()


def _format_validation_error(exc: ValidationError, source: str) -> str:
    lines = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"]) or "<root>"
        lines.append(f"  {location}: {error['msg']}")
    return f"invalid guardrail policy {source}:\n" + "\n".join(lines)


def policy_from_mapping(data: Any, *, source: str = "<mapping>") -> Policy:
    """Validate an already-parsed policy document (YAML top level must be a mapping)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(f"invalid guardrail policy {source}: the top level must be a mapping of fields")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(_format_validation_error(exc, source)) from exc


def load_policy(path: Path | None = None) -> Policy:
    """Load and validate a merchant policy; `None` means the built-in default.

    Raises PolicyError (with every offending field named) so the service refuses to start.
    """
    source_path = path if path is not None else DEFAULT_POLICY_PATH
    try:
        text = source_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read guardrail policy {source_path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"guardrail policy {source_path} is not valid YAML: {exc}") from exc
    return policy_from_mapping(data, source=str(source_path))


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The built-in policy, parsed once."""
    return load_policy(None)
