"""Stable, non-reversible customer pseudonyms (what models and non-manager views see)."""

from __future__ import annotations

import hashlib
import hmac

SANDBOX_PSEUDONYM_SECRET = "harbor-and-vine-sandbox-pseudonym-secret-v1"  # the sandbox restaurant only


def make_pseudonym(merchant_id: str, pos_customer_id: str, secret: str | bytes) -> str:
    """Stable, non-reversible customer reference shown to models and views: `g_` + 16 hex of an HMAC.

    Keyed by a server secret so nobody holding a POS id can compute or test a pseudonym offline.
    The one implementation: the seed, live ingest and the guardrails all use it.
    """
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise ValueError("pseudonym secret must not be empty")
    mac = hmac.new(key, f"{merchant_id}:{pos_customer_id}".encode(), hashlib.sha256).hexdigest()
    return "g_" + mac[:16]  # 64 bits: collisions stay negligible at millions of guests
