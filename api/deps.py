"""Per-request resources as `Annotated` dependencies: settings, database, API key roles, and the
process-wide offer agent with the infrastructure it holds (vector store, embedder). Routes take these
as parameters; none of them builds the agent or opens a store itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.ask.service import AskAgent, get_ask_agent
from agent.runner import OfferAgent, get_agent
from core.settings import Settings
from db.crud import hash_api_key
from db.tables import ApiKey
from vectorstore.embeddings import Embedder
from vectorstore.store import VectorStore

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


def get_agent_dep(settings: SettingsDep, engine: EngineDep) -> OfferAgent:
    """The offer agent of this process (built on first use, shared with the in-process worker)."""
    return get_agent(settings, engine)


AgentDep = Annotated[OfferAgent, Depends(get_agent_dep)]


def get_vector_store_dep(agent: AgentDep) -> VectorStore | None:
    """The agent's vector store (one per process: the embedded engine allows a single opener)."""
    return agent.ctx.vector_store


def get_embedder_dep(agent: AgentDep) -> Embedder | None:
    return agent.ctx.embedder


def get_ask_agent_dep(settings: SettingsDep, engine: EngineDep) -> AskAgent:
    """The associate Q&A agent of this process (shares the offer agent's clients and caches)."""
    return get_ask_agent(settings, engine)


AskAgentDep = Annotated[AskAgent, Depends(get_ask_agent_dep)]
VectorStoreDep = Annotated[VectorStore | None, Depends(get_vector_store_dep)]
EmbedderDep = Annotated[Embedder | None, Depends(get_embedder_dep)]


def request_api_key(request: Request) -> str | None:
    """The raw key: `Authorization: Bearer <key>`, or `x-api-key` (what langgraph-sdk clients send)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key", "").strip() or None


def active_api_key(session: Session, raw: str) -> ApiKey | None:
    """The key row for a raw key, unless it is unknown or revoked (checked on every request)."""
    key = session.execute(select(ApiKey).where(ApiKey.key_hash == hash_api_key(raw))).scalar_one_or_none()  # type: ignore[arg-type]
    return key if key is not None and key.revoked_at is None else None


def current_api_key(request: Request, session: SessionDep) -> ApiKey:
    raw = request_api_key(request)
    if raw is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing API key (Authorization: Bearer or x-api-key)",
                            headers={"WWW-Authenticate": "Bearer"})
    key = active_api_key(session, raw)
    if key is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or revoked API key",
                            headers={"WWW-Authenticate": "Bearer"})
    # End the read transaction now: a snapshot held for the whole request blocks PostgreSQL DDL such
    # as the checkpointer's CREATE INDEX CONCURRENTLY when the first request builds the agent.
    session.expunge(key)
    session.rollback()
    return key


ApiKeyDep = Annotated[ApiKey, Depends(current_api_key)]


def role_allows(role: str, roles: tuple[str, ...] | frozenset[str]) -> bool:
    """Whether a key of `role` may do what `roles` may (admin always may)."""
    return role == "admin" or role in roles


def require_roles(*roles: str) -> Callable[[ApiKey], ApiKey]:
    """Dependency factory: the caller's key must have one of `roles` (admin always passes)."""

    def _check(key: ApiKeyDep) -> ApiKey:
        if not role_allows(key.role, roles):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {key.role!r} may not do this; needs {list(roles)}")
        return key

    return _check


AnyRole = Annotated[ApiKey, Depends(require_roles(*ROLES))]
Manager = Annotated[ApiKey, Depends(require_roles("manager"))]
Marketer = Annotated[ApiKey, Depends(require_roles("marketer"))]
MarketerOrManager = Annotated[ApiKey, Depends(require_roles("marketer", "manager"))]
AssociateOrManager = Annotated[ApiKey, Depends(require_roles("associate", "manager"))]
