"""Error vocabulary of the side-effect tools.

The split matters for exactly-once execution: a `RetryableError` may be retried with the
same idempotency key (the far side dedupes), a `PermanentError` must not be retried (the
request itself is wrong), and `ToolUnavailable` tells the caller to queue the action and try
again later — the decision stays recorded and its idempotency key guarantees it runs once.
"""

from __future__ import annotations


class ToolError(Exception):
    """Base class of every error raised by tools/."""


class RetryableError(ToolError):
    """Transient failure (connection error, timeout, HTTP 408/429/5xx): safe to retry with the same key."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class PermanentError(ToolError):
    """The request was refused on its merits (validation, not found, conflict): retrying cannot help."""

    def __init__(self, message: str, *, status_code: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code


class IdempotencyConflict(PermanentError):
    """The same idempotency key was reused with different parameters: a bug upstream, never a retry."""


class InsufficientPoints(PermanentError):
    """A redemption would take the customer's points balance below zero."""


class ToolUnavailable(ToolError):
    """The POS or messaging provider stayed unreachable after all retries.

    The caller should queue the action and retry later with the same idempotency key.
    """

    def __init__(self, tool: str, *, attempts: int, last_error: BaseException | None) -> None:
        detail = f"{type(last_error).__name__}: {last_error}" if last_error is not None else "unknown error"
        super().__init__(f"{tool} unavailable after {attempts} attempt(s): {detail}")
        self.tool = tool
        self.attempts = attempts
        self.last_error = last_error
