"""The campaign eval's judge fails what it must: a touched holdout, an unexpected outcome, a message in quiet
hours, a review that went the wrong way, a world that crashed. And the cases file validates."""

from __future__ import annotations

from datetime import UTC, datetime

from evals.campaigns.schema import CampaignCase, load_cases
from evals.campaigns.suite import judge
from evals.campaigns.world import CaseRun, GuestResult

CASE = CampaignCase.model_validate({
    "id": "c", "category": "holdout", "description": "d", "campaign": {"kind": "next_visit", "holdout_pct": 50},
    "quiet_hours": True, "review": {"guest": "a", "role": "manager", "expect": "sent"},
    "guests": [{"name": "a", "expect": "sent"}, {"name": "b"}],
})
AT_NOON = datetime(2026, 11, 1, 17, 0, tzinfo=UTC)  # 12:00 in New York


def run_with(a: GuestResult, b: GuestResult, *, review: str = "sent", holdout_size: int = 1) -> CaseRun:
    return CaseRun(CASE, guests={"a": [a], "b": [b]}, preview={"holdout_size": holdout_size}, review_outcome=review)


def sent(name: str, at: datetime = AT_NOON) -> GuestResult:
    return GuestResult(name, "treatment", "decided", "sent", [{"channel": "sms", "scheduled_for": at}])


def test_a_clean_run_passes() -> None:
    assert judge(run_with(sent("a"), GuestResult("b", "holdout", "holdout"))) == []


def test_each_kind_of_failure_is_caught() -> None:
    touched = GuestResult("b", "holdout", "holdout", "sent", [{"channel": "sms", "scheduled_for": AT_NOON}])
    assert any("holdout guest b" in f for f in judge(run_with(sent("a"), touched)))
    assert any("expected sent, got escalated" in f for f in judge(run_with(
        GuestResult("a", "treatment", "decided", "pending_review"), GuestResult("b", "holdout", "holdout"))))
    night = datetime(2026, 11, 1, 7, 30, tzinfo=UTC)
    held = GuestResult("b", "holdout", "holdout")
    assert any("inside quiet hours" in f for f in judge(run_with(sent("a", night), held)))
    assert any("review by a manager" in f for f in judge(run_with(sent("a"), GuestResult("b", "holdout", "holdout"),
                                                                  review="refused")))
    assert any("the approved plan 2" in f for f in judge(run_with(sent("a"), GuestResult("b", "holdout", "holdout"),
                                                                  holdout_size=2)))
    assert judge(CaseRun(CASE, error="boom")) == ["world failed: boom"]


def test_the_cases_file_validates_and_covers_every_category() -> None:
    cases = load_cases()
    assert {c.category for c in cases} == {"eligibility", "fatigue", "holdout", "quiet_hours", "review"}
    assert len({c.id for c in cases}) == len(cases)
