"""Webhook signature schemes. Checked on the raw body, before anything is parsed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


class SignatureError(Exception):
    """The request is not authentic (absent, malformed, wrong or stale signature)."""


def sign_pos(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """`X-Signature` value for the generic POS scheme: `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify_pos(secret: str, body: bytes, header: str | None, *, tolerance_s: int = 300,
               now: float | None = None) -> None:
    """Raise SignatureError unless `header` is a fresh, valid generic-POS signature of `body`.

    Several `v1=` entries are accepted (secret rotation); any one valid entry passes.
    """
    if not header:
        raise SignatureError("missing X-Signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError("malformed X-Signature header")
        if key == "t":
            if not value.isdigit():
                raise SignatureError("malformed timestamp in X-Signature")
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError("X-Signature needs t= and v1=")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError(f"stale signature: timestamp outside the {tolerance_s}s tolerance")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("signature mismatch")


def sign_square(signature_key: str, notification_url: str, body: bytes) -> str:
    """Square's scheme: base64(HMAC-SHA256(key, notification URL + raw body))."""
    mac = hmac.new(signature_key.encode(), notification_url.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def verify_square(signature_key: str, notification_url: str, body: bytes, header: str | None) -> None:
    if not header:
        raise SignatureError("missing x-square-hmacsha256-signature header")
    expected = sign_square(signature_key, notification_url, body)
    if not hmac.compare_digest(expected.encode(), header.strip().encode()):
        raise SignatureError("signature mismatch")
