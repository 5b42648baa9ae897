"""Unit tests never leave the machine.

An autouse fixture makes every socket connection to a non-loopback address fail loudly (the same
idea as openai-agents' and pydantic-ai's test suites, which refuse real model requests), and points
the LLM settings at a dummy key and the offline provider, so a unit test that would accidentally
reach a real model or API fails instead of spending money or flaking. Loopback and Unix sockets
stay allowed: local test servers and asyncio's self-pipes need them.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", ""})


class NetworkBlockedError(ConnectionRefusedError):
    """Raised when a unit test tries to reach a non-loopback address. An OSError subclass, so client
    libraries report it as the ordinary "cannot connect" they already handle."""


def _is_loopback(host: Any) -> bool:
    if not isinstance(host, str):
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False  # a DNS name other than localhost: resolving it already leaves the machine


def _is_ip_literal(host: str) -> bool:
    """IP literals resolve locally; the connect guard decides about them."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _guard_address(sock: socket.socket, address: Any) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # Unix sockets, socketpairs
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_loopback(host):
        raise NetworkBlockedError(f"unit tests may not open network connections (tried {address!r})")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def guarded_connect(self: socket.socket, address: Any) -> None:
        _guard_address(self, address)
        real_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        _guard_address(self, address)
        return real_connect_ex(self, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not _is_loopback(str(name)) and not _is_ip_literal(str(name)):
            raise socket.gaierror(socket.EAI_NONAME, f"unit tests may not resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unit-test-dummy")
    monkeypatch.setenv("LLM_API_KEY", "sk-unit-test-dummy")
    monkeypatch.setenv("LLM_PROVIDER", "offline")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("LLM_BASE_URL", raising=False)
    yield
