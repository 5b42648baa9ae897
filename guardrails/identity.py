"""Customer identity helpers that need no NLP model: pseudonyms and send-time re-identification.

A model only ever sees the pseudonym; the sending tool alone turns approved copy back into a
personal message, at send time, with `reidentify`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Protocol


def pseudonym_for(merchant_id: str, pos_customer_id: str, secret: str | bytes) -> str:
    """Stable, non-reversible customer reference: "g_" + 16 hex chars of HMAC-SHA256.

    Keyed by a server secret so nobody holding a POS id can compute or test a pseudonym offline.
    """
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise ValueError("pseudonym secret must not be empty")
    message = f"{merchant_id}\x1f{pos_customer_id}".encode()
    return "g_" + hmac.new(key, message, hashlib.sha256).hexdigest()[:16]



class ContactLike(Protocol):
    given_name: str | None


_NAME_CLEAN_RE = re.compile(r"[^\w' -]", re.UNICODE)


def reidentify(template: str, *, contact: ContactLike | None, promo_code: str | None = None) -> str:
    """Fill the copy's placeholders at send time. Call ONLY from the sending tool.

    The first word of the guest's given name (cleaned of markup, at most 20 characters) replaces
    {first_name}; without one the greeting reads "there". Other braces are left untouched.
    """
    given = (contact.given_name if contact is not None else None) or ""
    first = _NAME_CLEAN_RE.sub("", given).strip().split(" ")[0][:20] if given.strip() else ""
    filled = template.replace("{first_name}", first or "there")
    if promo_code is not None:
        filled = filled.replace("{promo_code}", promo_code)
    return filled
