"""Small flat data-access functions used by the API and CLI."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import func, select
from sqlmodel import Session

from db.tables import ApiKey, CatalogItem, Merchant
from db.types import utcnow


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


def list_api_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKey]:
    """Every key (never the raw key: only its id, prefix, role, name and dates are stored)."""
    query = select(ApiKey).order_by(ApiKey.id)  # type: ignore[arg-type]
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))  # type: ignore[union-attr]
    return list(session.execute(query).scalars())


def revoke_api_key(session: Session, key_id: int) -> ApiKey | None:
    """Revoke a key now (API requests and /ui sessions re-check it on every request); None if unknown.
    Revoking twice keeps the first revocation time."""
    key = session.get(ApiKey, key_id)
    if key is not None and key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        session.flush()
    return key


def list_catalog(session: Session, *, merchant_id: str, active_only: bool = True) -> list[CatalogItem]:
    query = select(CatalogItem).where(CatalogItem.merchant_id == merchant_id)  # type: ignore[arg-type]
    if active_only:
        query = query.where(CatalogItem.active.is_(True))  # type: ignore[attr-defined]
    return list(session.execute(query.order_by(CatalogItem.category, CatalogItem.sku)).scalars())  # type: ignore[arg-type]


def merchant_count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(Merchant)).scalar_one())
