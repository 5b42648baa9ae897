"""Drafters the eval puts in place of the configured one.

* `PassThroughDrafter` submits the case's attack draft whatever it is given, so the guardrails
  alone decide whether it reaches the guest.
* `CarelessDrafter` (`python -m evals --disable-drafter-safety`) wraps the real drafter and takes its
  safety knowledge away: it sees the whole catalog as eligible, no allergies, alcohol allowed and no
  excluded categories. It exists to prove that the drafter self-safety gate can fail.
"""

from __future__ import annotations

from typing import Any

from agent.drafting import Drafter, DraftInput, DraftResult
from core.schemas import CatalogFact, OfferDraft

PASS_THROUGH_MODEL = "eval:pass-through"


class PassThroughDrafter:
    model_name = PASS_THROUGH_MODEL

    def __init__(self, offer: OfferDraft) -> None:
        self.offer = offer

    def draft(self, inp: DraftInput, *, context: Any = None) -> DraftResult:
        return DraftResult(offer=self.offer, model=PASS_THROUGH_MODEL, prompt_version="attack")


class CarelessDrafter:
    def __init__(self, inner: Drafter, catalog: list[CatalogFact]) -> None:
        self.inner = inner
        self.catalog = catalog
        self.model_name = "careless:" + str(getattr(inner, "model_name", type(inner).__name__))

    def draft(self, inp: DraftInput, *, context: Any = None) -> DraftResult:
        careless = inp.model_copy(
            update={
                "eligible_catalog": [item for item in self.catalog if item.active],
                "allergies": [],
                "excluded_categories": [],
                "consents": inp.consents.model_copy(update={"alcohol_allowed": True}),
                "limits": inp.limits.model_copy(update={"excluded_allergens_when_unknown": []}),
            }
        )
        return self.inner.draft(careless, context=context)
