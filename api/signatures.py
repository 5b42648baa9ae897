"""Webhook signature schemes. Checked on the raw body, before anything is parsed."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time


class SignatureError(Exception):
    """The request is not authentic (absent, malformed, wrong or stale signature)."""


# ASCII only: str.isdigit() also accepts "²" or "١", which int() then refuses or reads differently.
# Twelve digits reach the year 33658: anything longer is not a Unix time and must not reach int().
_UNIX_TIME = re.compile(r"[0-9]{1,12}")
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


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
            if not _UNIX_TIME.fullmatch(value):
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
    # Only well-formed candidates are compared: compare_digest refuses non-ASCII str with a TypeError.
    if not any(_HEX_SHA256.fullmatch(c) and hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("signature mismatch")


def _square_mac(signature_key: str, notification_url: str, body: bytes) -> bytes:
    return hmac.new(signature_key.encode(), notification_url.encode() + body, hashlib.sha256).digest()


def sign_square(signature_key: str, notification_url: str, body: bytes) -> str:
    """Square's scheme: base64(HMAC-SHA256(key, notification URL + raw body))."""
    return base64.b64encode(_square_mac(signature_key, notification_url, body)).decode()


def verify_square(signature_key: str, notification_url: str, body: bytes, header: str | None) -> None:
    if not header:
        raise SignatureError("missing x-square-hmacsha256-signature header")
    try:
        # validate=True: characters outside the base64 alphabet are an error, not silently dropped.
        presented = base64.b64decode(header.strip().encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise SignatureError("malformed x-square-hmacsha256-signature header (not base64)") from exc
    if not hmac.compare_digest(_square_mac(signature_key, notification_url, body), presented):
        raise SignatureError("signature mismatch")
