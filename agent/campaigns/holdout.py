"""The deterministic split: buckets 0-9999 from a hash of the guest's pseudonym and a salt.

The same guest lands in the same bucket of a campaign whenever the split is computed (planning, preview,
a resumed run), and in unrelated buckets of different campaigns (each has its own salt). The standing
global control group uses one merchant-wide salt, so it is the same guests for every campaign.
"""

from __future__ import annotations

import hashlib

BUCKETS = 10_000


def bucket(pseudonym: str, salt: str) -> int:
    """0..9999, uniform over guests, stable for (pseudonym, salt)."""
    digest = hashlib.sha256(f"{salt}:{pseudonym}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def in_share(bucket_value: int, pct: float) -> bool:
    """Whether a bucket falls in the first `pct` percent of buckets (pct 10 -> buckets 0..999)."""
    return bucket_value < round(pct * BUCKETS / 100)


def global_control_salt(merchant_id: str) -> str:
    return f"global-control:{merchant_id}"
