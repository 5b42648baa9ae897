"""Per-API-key rate limits: a sliding one-minute window, in process memory.

Each (bucket, key id) keeps the times of its recent requests; a request over the limit is refused
with 429 and `Retry-After` = seconds until the oldest request in the window leaves it. Memory is
bounded by the limit times the number of keys. Limits are per process: with several API processes
each enforces its own window (a shared store would be the next step for a scaled-out deployment).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from fastapi import HTTPException, Request, status

WINDOW_S = 60.0


class RateLimiter:
    """At most `limit` hits per key in any `window_s` seconds; `limit <= 0` disables the check."""

    def __init__(self, limit: int, *, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Record a hit; None when allowed, else the seconds to wait before the next one is."""
        if self.limit <= 0:
            return None
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(0.0, hits[0] + self.window_s - now)
            hits.append(now)
            return None


_create_lock = threading.Lock()


def limiter_for(request: Request, bucket: str, limit: int) -> RateLimiter:
    """The app's limiter for `bucket` (created on first use; one per app, so tests stay isolated)."""
    state = request.app.state
    with _create_lock:
        limiters: dict[str, RateLimiter] | None = getattr(state, "rate_limiters", None)
        if limiters is None:
            limiters = {}
            state.rate_limiters = limiters
        limiter = limiters.get(bucket)
        if limiter is None:
            limiter = limiters[bucket] = RateLimiter(limit)
        return limiter


def enforce(request: Request, *, bucket: str, key_id: int | None, limit: int) -> None:
    """Raise 429 with Retry-After when this key is over its limit for `bucket`."""
    wait = limiter_for(request, bucket, limit).hit(str(key_id))
    if wait is not None:
        retry_after = max(1, math.ceil(wait))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"rate limit: at most {limit} requests per minute per API key; retry in {retry_after}s",
            headers={"Retry-After": str(retry_after)},
        )
