"""The per-merchant model the feature code scores customers with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from profiles.bgnbd import DEFAULT_PRIORS, BgNbdParams
from profiles.spend import DEFAULT_GROSS_MARGIN, GammaGammaParams, spend_priors

ParamSource = Literal["fitted", "priors"]

# A sensible restaurant ticket for a merchant with no history at all ($45, in cents).
DEFAULT_MEAN_TICKET_CENTS = 4500.0


@dataclass(frozen=True, slots=True)
class MerchantModel:
    """BG/NBD + Gamma-Gamma parameters of one merchant, with where each came from.

    BG/NBD parameters are in DAYS (alpha is a rate per day); spend parameters are in cents.
    """

    bgnbd: BgNbdParams = DEFAULT_PRIORS
    source: ParamSource = "priors"
    spend: GammaGammaParams = field(default_factory=lambda: spend_priors(DEFAULT_MEAN_TICKET_CENTS))
    spend_source: ParamSource = "priors"
    gross_margin: float = DEFAULT_GROSS_MARGIN
    customers: int = 0  # customers with at least one visit when the model was built
    repeat_customers: int = 0
    log_likelihood: float | None = None  # of the BG/NBD fit, when fitted


DEFAULT_MODEL = MerchantModel()
