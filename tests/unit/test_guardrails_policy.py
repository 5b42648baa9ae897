"""Policy file loading: the default is valid and a bad file names the offending field."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrails.policy import DEFAULT_POLICY_PATH, Policy, PolicyError, load_policy, policy_from_mapping


def test_default_file_equals_model_defaults() -> None:
    assert load_policy(None) == Policy()
    assert load_policy(DEFAULT_POLICY_PATH).sms.opt_out_text == "Reply STOP to opt out"


def test_partial_override_keeps_other_defaults(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("min_margin_pct: 40\nquiet_hours:\n  start: '22:00'\n  end: '08:30'\n")
    policy = load_policy(path)
    assert policy.min_margin_pct == 40
    assert policy.quiet_hours.end.hour == 8 and policy.quiet_hours.end.minute == 30
    assert policy.max_discount_pct == 30


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ("max_discount_pc: 20\n", "max_discount_pc"),  # typo: unknown fields are refused
        ("min_margin_pct: -5\n", "min_margin_pct"),
        ("quiet_hours:\n  start: 21:00\n", "quiet_hours.start"),  # unquoted time is an int in YAML
        ("quiet_hours:\n  default_timezone: Mars/Base\n", "quiet_hours.default_timezone"),
        ("fatigue:\n  caps:\n    - {channel: fax, max_messages: 1, window_days: 7}\n", "fatigue.caps.0.channel"),
        ("escalation:\n  known_offer_types: [mystery_box]\n", "escalation.known_offer_types.0"),
        ("rules:\n  allergens: {escalate_instead_of_block: true}\n", "rules.allergens.escalate_instead_of_block"),
        ("rules:\n  margni: {escalate: true}\n", "rules.margni"),
        ("unknown_allergy_action: ignore\n", "unknown_allergy_action"),
    ],
)
def test_invalid_policy_names_the_field(tmp_path: Path, document: str, field: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(document)
    with pytest.raises(PolicyError) as excinfo:
        load_policy(path)
    assert field in str(excinfo.value)
    assert str(path) in str(excinfo.value)


def test_unreadable_or_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("min_margin_pct: [unclosed\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(PolicyError, match="mapping"):
        load_policy(listing)


def test_soft_rules_may_escalate_instead_of_block() -> None:
    policy = policy_from_mapping({"rules": {"margin": {"escalate_instead_of_block": True}}})
    assert policy.override_for("margin").escalate_instead_of_block
    assert not policy.override_for("fatigue").escalate_instead_of_block
