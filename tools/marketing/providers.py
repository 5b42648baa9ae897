"""Messaging providers the outbox sender hands re-identified messages to.

A provider receives the message's idempotency key with every send and must treat a repeated
key as the same message (return the first provider message id, deliver nothing new). That
is what makes a sender crash between "provider accepted" and "row marked sent" harmless.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import httpx

from tools.errors import PermanentError, RetryableError
from tools.idempotency import error_for_status, retrying


@runtime_checkable
class MessagingProvider(Protocol):
    name: str

    def send(self, *, idempotency_key: str, channel: str, to: str, subject: str | None, body: str) -> str:
        """Deliver one message; return the provider's message id. Raises PermanentError on refusal,
        ToolUnavailable when the provider stays unreachable after retries."""
        ...


@dataclass(frozen=True)
class SandboxDelivery:
    idempotency_key: str
    provider_message_id: str
    channel: str
    to: str
    subject: str | None
    body: str


class SandboxMessagingProvider:
    """The embedded default: "delivers" by recording the message, idempotently by key.

    The durable record is the outbound_message row (status sent, provider_message_id), written by
    the sender; the rendered text (it contains the guest's name) lives only in this process's
    memory, in a bounded list that a developer can inspect and that tests assert on.
    """

    name = "sandbox"

    def __init__(self, *, keep_last: int = 1000) -> None:
        self._keep_last = keep_last
        self._lock = threading.Lock()
        self._by_key: dict[str, SandboxDelivery] = {}

    def send(self, *, idempotency_key: str, channel: str, to: str, subject: str | None, body: str) -> str:
        with self._lock:
            existing = self._by_key.get(idempotency_key)
            if existing is not None:
                return existing.provider_message_id
            message_id = "sbx_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
            self._by_key[idempotency_key] = SandboxDelivery(
                idempotency_key=idempotency_key, provider_message_id=message_id, channel=channel, to=to,
                subject=subject, body=body,
            )
            while len(self._by_key) > self._keep_last:
                self._by_key.pop(next(iter(self._by_key)))
            return message_id

    @property
    def deliveries(self) -> list[SandboxDelivery]:
        with self._lock:
            return list(self._by_key.values())


class HttpMessagingProvider:
    """Generic JSON-over-HTTP provider: `POST {base_url}/messages` with an `Idempotency-Key` header.

    Request body: {"channel", "to", "subject", "body"}; response: {"id": "<provider message id>"}.
    429/408/5xx, connection errors and timeouts are retried with backoff and jitter; any other 4xx
    is a PermanentError and is not retried.
    """

    name = "http"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None = None,
        timeout_s: float = 5.0,
        retry_attempts: int = 4,
        retry_base_delay_s: float = 0.25,
        retry_max_delay_s: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        client: httpx.Client | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s, headers=headers)
        self._send_with_retries = retrying(
            "marketing.http.send",
            attempts=retry_attempts,
            base_delay_s=retry_base_delay_s,
            max_delay_s=retry_max_delay_s,
            sleep=sleep,
        )(self._send_once)

    def send(self, *, idempotency_key: str, channel: str, to: str, subject: str | None, body: str) -> str:
        payload = {"channel": channel, "to": to, "subject": subject, "body": body}
        return self._send_with_retries(idempotency_key, payload)

    def close(self) -> None:
        self._client.close()

    def _send_once(self, idempotency_key: str, payload: dict[str, Any]) -> str:
        try:
            response = self._client.post("/messages", json=payload, headers={"Idempotency-Key": idempotency_key})
        except httpx.TransportError as exc:
            raise RetryableError(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise error_for_status(
                response.status_code, f"provider HTTP {response.status_code}: {_error_text(response)}"
            )
        try:
            message_id = response.json()["id"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PermanentError(f"provider answered {response.status_code} without a message id") from exc
        return str(message_id)


def _error_text(response: httpx.Response) -> str:
    """The provider's error code/message, never the request (which holds the recipient)."""
    try:
        data = response.json()
    except ValueError:
        return response.reason_phrase
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            return str(error.get("code") or error.get("message") or response.reason_phrase)[:200]
        return str(error)[:200]
    return response.reason_phrase
