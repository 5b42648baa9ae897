"""The holdout split: deterministic buckets 0-9999 from (pseudonym, salt), uniform, independent across salts."""

from __future__ import annotations

from collections import Counter

from scipy.stats import chisquare

from agent.campaigns.holdout import BUCKETS, bucket, global_control_salt, in_share


def test_a_guest_lands_in_the_same_bucket_whenever_the_split_is_computed() -> None:
    assert bucket("p_abc", "salt-1") == bucket("p_abc", "salt-1")
    assert 0 <= bucket("p_abc", "salt-1") < BUCKETS


def test_buckets_are_uniform_over_guests() -> None:
    deciles = Counter(bucket(f"p_{i}", "campaign-salt") // 1000 for i in range(20_000))
    assert sorted(deciles) == list(range(10))
    assert chisquare([deciles[d] for d in range(10)]).pvalue > 0.001


def test_salts_give_unrelated_splits() -> None:
    guests = [f"p_{i}" for i in range(10_000)]
    a = {g for g in guests if in_share(bucket(g, "campaign-a"), 10)}
    b = {g for g in guests if in_share(bucket(g, "campaign-b"), 10)}
    # Independent 10 % holdouts overlap in about 1 % of guests, not 10 %.
    assert 50 < len(a & b) < 160
    assert 850 < len(a) < 1150


def test_share_boundaries() -> None:
    assert in_share(0, 10) and in_share(999, 10) and not in_share(1000, 10)
    assert not in_share(0, 0)
    assert in_share(4999, 50) and not in_share(5000, 50)
    assert in_share(1, 0.02) and not in_share(2, 0.02)


def test_the_global_control_salt_is_per_merchant_and_stable() -> None:
    assert global_control_salt("m_1") == global_control_salt("m_1") != global_control_salt("m_2")
