"""Idempotency keys and the retry policy shared by every side-effect tool.

An idempotency key is derived from (decision, action) only, never from time or randomness,
so a worker that crashes and re-runs a decision presents the same key and the POS, the
provider or our own unique constraints turn the second attempt into a no-op.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import httpx
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from tools.errors import IdempotencyConflict, PermanentError, RetryableError, ToolUnavailable

__all__ = [
    "IdempotencyConflict",
    "PermanentError",
    "RetryableError",
    "ToolUnavailable",
    "error_for_status",
    "idempotency_key",
    "is_retryable",
    "retrying",
]

P = ParamSpec("P")
R = TypeVar("R")

KEY_PREFIX = "idk_"
# Square caps some idempotency keys at 45 characters (customer custom attributes): stay below.
_KEY_HEX_CHARS = 40

RETRYABLE_STATUS = frozenset({408, 429})


def idempotency_key(decision_id: str, action: str) -> str:
    """Deterministic key for one action of one decision, e.g. ("offer_123", "pos.create_promo_code").

    44 characters: short enough for every provider we talk to, long enough (160 bits) that
    two different (decision, action) pairs never collide in practice.
    """
    if not decision_id or not action:
        raise ValueError("decision_id and action are both required for an idempotency key")
    digest = hashlib.sha256(f"{decision_id}\x1f{action}".encode()).hexdigest()
    return KEY_PREFIX + digest[:_KEY_HEX_CHARS]


def is_retryable_status(status_code: int) -> bool:
    return status_code >= 500 or status_code in RETRYABLE_STATUS


def error_for_status(status_code: int, message: str, *, code: str | None = None) -> Exception:
    """Map an HTTP error status to RetryableError (408/429/5xx) or PermanentError (other 4xx)."""
    if is_retryable_status(status_code):
        return RetryableError(message, status_code=status_code)
    return PermanentError(message, status_code=status_code, code=code)


def is_retryable(exc: BaseException) -> bool:
    """Transient failures only: our RetryableError, transport errors and timeouts.

    A PermanentError (4xx validation) is never retried, whatever it wraps.
    """
    if isinstance(exc, PermanentError):
        return False
    return isinstance(exc, RetryableError | httpx.TransportError | ConnectionError | TimeoutError)


def retrying(
    tool: str,
    *,
    attempts: int = 4,
    base_delay_s: float = 0.25,
    max_delay_s: float = 8.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: retry transient failures with exponential backoff and full jitter.

    Only `is_retryable` errors are retried; anything else propagates at once. When the
    attempts are exhausted a `ToolUnavailable` is raised (chained to the last error) so the
    caller can queue the action instead of losing it.
    """
    if attempts < 1:
        raise ValueError("attempts must be >= 1")

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            retryer = Retrying(
                retry=retry_if_exception(is_retryable),
                stop=stop_after_attempt(attempts),
                wait=wait_random_exponential(multiplier=base_delay_s, max=max_delay_s),
                sleep=sleep,
                reraise=False,
            )
            try:
                return retryer(fn, *args, **kwargs)
            except RetryError as exc:
                last = _last_exception(exc.last_attempt)
                raise ToolUnavailable(tool, attempts=attempts, last_error=last) from last

        return wrapper

    return decorate


def _last_exception(state: object) -> BaseException | None:
    if isinstance(state, RetryCallState) and state.outcome is not None:
        return state.outcome.exception()
    exception = getattr(state, "exception", None)
    return exception() if callable(exception) else None
