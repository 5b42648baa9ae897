"""Per-request resources as `Annotated` dependencies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.settings import Settings
from db.crud import hash_api_key
from db.tables import ApiKey

ROLES = ("associate", "marketer", "manager", "admin")


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_engine_dep(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
EngineDep = Annotated[Engine, Depends(get_engine_dep)]


def get_session(engine: EngineDep) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def current_api_key(request: Request, session: SessionDep) -> ApiKey:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer API key",
                            headers={"WWW-Authenticate": "Bearer"})
    key = session.execute(select(ApiKey).where(ApiKey.key_hash == hash_api_key(token.strip()))).scalar_one_or_none()  # type: ignore[arg-type]
    if key is None or key.revoked_at is not None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or revoked API key",
                            headers={"WWW-Authenticate": "Bearer"})
    return key


ApiKeyDep = Annotated[ApiKey, Depends(current_api_key)]


def require_roles(*roles: str) -> Callable[[ApiKey], ApiKey]:
    """Dependency factory: the caller's key must have one of `roles` (admin always passes)."""

    def _check(key: ApiKeyDep) -> ApiKey:
        if key.role != "admin" and key.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {key.role!r} may not do this; needs {list(roles)}")
        return key

    return _check


AnyRole = Annotated[ApiKey, Depends(require_roles(*ROLES))]
Manager = Annotated[ApiKey, Depends(require_roles("manager"))]
Marketer = Annotated[ApiKey, Depends(require_roles("marketer"))]
MarketerOrManager = Annotated[ApiKey, Depends(require_roles("marketer", "manager"))]
AssociateOrManager = Annotated[ApiKey, Depends(require_roles("associate", "manager"))]
