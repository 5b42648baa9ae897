"""Stable, non-reversible customer pseudonyms (what models and non-manager views see)."""

from __future__ import annotations

import hashlib
import hmac

SANDBOX_PSEUDONYM_SECRET = "sandbox-pseudonym-secret"


def make_pseudonym(merchant_id: str, pos_customer_id: str, secret: str) -> str:
    mac = hmac.new(secret.encode(), f"{merchant_id}:{pos_customer_id}".encode(), hashlib.sha256).hexdigest()
    return "g_" + mac[:12]
