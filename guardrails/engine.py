"""The single entry point: `evaluate(ctx)` runs every rule and combines the verdicts.

Any block -> block; else any escalate -> escalate; else pass. Every rule's verdict is kept in the
report for the audit trail. Policy overrides are applied here, in one place: a soft rule's block
may become an escalation (`escalate_instead_of_block`), and a rule marked `escalate` sends every
offer it applies to for review. Reviewer edits are re-checked by calling `evaluate` again.
Pure and deterministic: no I/O, no model, the clock comes in through `ctx.now`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import get_args

from core.schemas import GuardrailReport, GuardrailResult, Verdict
from guardrails.alcohol import check_alcohol
from guardrails.allergens import check_allergens
from guardrails.consent import check_consent
from guardrails.context import GuardrailContext
from guardrails.copy import check_copy
from guardrails.discount import check_discount, check_offer_value
from guardrails.escalation import check_escalation
from guardrails.fatigue import check_fatigue
from guardrails.margin import check_margin
from guardrails.policy import HARD_RULES, Policy, RuleName
from guardrails.quiet_hours import check_quiet_hours
from guardrails.structure import check_structure

Rule = Callable[[GuardrailContext], GuardrailResult]

RULES: tuple[Rule, ...] = (
    check_structure,
    check_consent,
    check_allergens,
    check_alcohol,
    check_margin,
    check_discount,
    check_offer_value,
    check_fatigue,
    check_quiet_hours,
    check_copy,
    check_escalation,
)


# Rules switched off in the current context only: the eval harness (`python -m evals --disable-rule`)
# uses it to prove its suite fails when a rule stops working. No API, worker or model input reaches it.
_disabled_rules: ContextVar[frozenset[str]] = ContextVar("disabled_guardrail_rules", default=frozenset())


@contextmanager
def rules_disabled(names: Iterable[str]) -> Iterator[None]:
    """Within this block (this thread or task and what it spawns), the named rules pass and
    `quiet_hours` defers nothing. For the eval harness only."""
    disabled = frozenset(names)
    unknown = sorted(disabled - set(get_args(RuleName)))
    if unknown:
        raise ValueError(f"unknown guardrail rule(s): {', '.join(unknown)}")
    token = _disabled_rules.set(disabled)
    try:
        yield
    finally:
        _disabled_rules.reset(token)


def apply_override(rule_result: GuardrailResult, policy: Policy) -> GuardrailResult:
    """The verdict after the merchant's per-rule override."""
    override = policy.override_for(rule_result.rule)
    if (
        rule_result.verdict == "block"
        and override.escalate_instead_of_block
        and rule_result.rule not in HARD_RULES
    ):
        return rule_result.model_copy(
            update={
                "verdict": "escalate",
                "reason": f"{rule_result.reason} (policy: escalate instead of block)",
                "evidence": {**rule_result.evidence, "overridden_verdict": "block"},
            }
        )
    if (
        rule_result.verdict == "pass"
        and override.escalate
        and rule_result.evidence.get("applicable", True) is not False
    ):
        return rule_result.model_copy(
            update={
                "verdict": "escalate",
                "reason": f"{rule_result.reason} (policy: every {rule_result.rule} offer goes to review)",
                "evidence": {**rule_result.evidence, "overridden_verdict": "pass"},
            }
        )
    return rule_result


def run_rule(rule: Rule, ctx: GuardrailContext) -> GuardrailResult:
    """One rule's verdict; a rule that crashes on a malformed draft blocks it (fail closed)."""
    try:
        return rule(ctx)
    except Exception as exc:  # a guardrail bug must never approve an offer
        name = getattr(rule, "__name__", "rule").removeprefix("check_")
        return GuardrailResult(
            rule=name,
            verdict="block",
            reason=f"rule failed on this draft ({type(exc).__name__}); blocked to stay safe",
            evidence={"error": str(exc)[:200]},
        )


def combine(results: list[GuardrailResult]) -> Verdict:
    verdicts = {r.verdict for r in results}
    if "block" in verdicts:
        return "block"
    if "escalate" in verdicts:
        return "escalate"
    return "pass"


def evaluate(ctx: GuardrailContext) -> GuardrailReport:
    """Run all rules on one drafted (or reviewer-edited) offer."""
    if not ctx.offer.make_offer:
        no_offer = GuardrailResult(
            rule="no_offer", verdict="pass", reason="no offer drafted; nothing to check or send"
        )
        return GuardrailReport(verdict="pass", results=[no_offer], send_at=None)
    disabled = _disabled_rules.get()
    results = [apply_override(run_rule(rule, ctx), ctx.policy) for rule in RULES]
    results = [
        r.model_copy(update={"verdict": "pass", "reason": "rule disabled (eval harness)"}) if r.rule in disabled else r
        for r in results
    ]
    deferred = ctx.send_at > ctx.now_utc and "quiet_hours" not in disabled
    send_at = ctx.send_at if deferred else None
    return GuardrailReport(verdict=combine(results), results=results, send_at=send_at)
