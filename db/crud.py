"""Small flat data-access functions used by the API and CLI."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import func, select
from sqlmodel import Session

from db.tables import ApiKey, CatalogItem, Merchant


def hash_api_key(raw: str) -> str:
    # Keys are 256-bit random strings, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(raw.encode()).hexdigest()


def create_api_key(session: Session, *, role: str, name: str | None = None) -> tuple[ApiKey, str]:
    """Create a key; the raw key is returned once and only its hash is stored."""
    prefix = secrets.token_hex(4)
    raw = f"la_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(prefix=prefix, key_hash=hash_api_key(raw), role=role, name=name)
    session.add(key)
    session.flush()
    return key, raw


def list_catalog(session: Session, *, merchant_id: str, active_only: bool = True) -> list[CatalogItem]:
    query = select(CatalogItem).where(CatalogItem.merchant_id == merchant_id)  # type: ignore[arg-type]
    if active_only:
        query = query.where(CatalogItem.active.is_(True))  # type: ignore[attr-defined]
    return list(session.execute(query.order_by(CatalogItem.category, CatalogItem.sku)).scalars())  # type: ignore[arg-type]


def merchant_count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(Merchant)).scalar_one())
