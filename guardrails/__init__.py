"""Deterministic guardrails: the rules no model can talk its way past.

`evaluate(GuardrailContext(...))` is the single entry point for drafted offers and reviewer edits.
This package imports no LLM code; `guardrails.pii` (Presidio) is imported separately because it
loads a spaCy model.
"""

from core.allergens import normalize_allergen
from guardrails.context import GuardrailContext
from guardrails.engine import RULES, evaluate
from guardrails.pii_scan import contains_raw_pii
from guardrails.policy import Policy, PolicyError, default_policy, load_policy, policy_from_mapping

__all__ = [
    "RULES",
    "GuardrailContext",
    "Policy",
    "PolicyError",
    "contains_raw_pii",
    "default_policy",
    "evaluate",
    "load_policy",
    "normalize_allergen",
    "policy_from_mapping",
]
