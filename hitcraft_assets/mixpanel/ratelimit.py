"""Client-side rate limiting for Mixpanel's query APIs.

Mixpanel allows 60 queries per hour and 3 per second per project on the Raw Event Export API (the Engage
query API: 60 per hour), answering 429 beyond that. `RateLimiter` keeps a request under both budgets with
sliding windows: at most `queries_per_hour` request starts in any 3600 s, and at most `queries_per_second`
in any second (a fractional rate r < 1 means one request per 1/r seconds). It is thread-safe and takes an
injectable clock and sleep for tests. `shared_limiter` returns one limiter per key (project), so several
clients in one process share the project's budget; a budget of None or <= 0 means unlimited.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["RateLimiter", "reset_shared_limiters", "shared_limiter"]


class _Window:
    """At most `capacity` events in any `length`-second sliding window."""

    def __init__(self, capacity: int, length: float) -> None:
        self.capacity = capacity
        self.length = length
        self.stamps: deque[float] = deque()

    def wait_time(self, now: float) -> float:
        while self.stamps and self.stamps[0] <= now - self.length:
            self.stamps.popleft()
        if len(self.stamps) < self.capacity:
            return 0.0
        return self.stamps[0] + self.length - now

    def record(self, now: float) -> None:
        self.stamps.append(now)


class RateLimiter:
    """Blocks `acquire()` until a request fits both the hourly and the per-second budget."""

    def __init__(
        self,
        queries_per_hour: int | None = 60,
        queries_per_second: float | None = 3.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.queries_per_hour = queries_per_hour if queries_per_hour and queries_per_hour > 0 else None
        self.queries_per_second = queries_per_second if queries_per_second and queries_per_second > 0 else None
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._windows: list[_Window] = []
        if self.queries_per_hour is not None:
            self._windows.append(_Window(int(self.queries_per_hour), 3600.0))
        if self.queries_per_second is not None:
            capacity = max(1, math.floor(self.queries_per_second))
            self._windows.append(_Window(capacity, capacity / self.queries_per_second))
        self.total_waited = 0.0
        self.acquired = 0

    @classmethod
    def unlimited(cls) -> RateLimiter:
        """A limiter that never waits (tests, the in-process sample Mixpanel)."""
        return cls(None, None)

    def wait_time(self) -> float:
        """Seconds until a request would be allowed now (0 if it would)."""
        with self._lock:
            now = self._clock()
            return max((w.wait_time(now) for w in self._windows), default=0.0)

    def acquire(self) -> float:
        """Wait until both budgets allow one more request, record it, and return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                delay = max((w.wait_time(now) for w in self._windows), default=0.0)
                if delay <= 0:
                    for window in self._windows:
                        window.record(now)
                    self.acquired += 1
                    self.total_waited += waited
                    return waited
            # sleep outside the lock so other threads can compute their own waits
            self._sleep(delay)
            waited += delay

    def __repr__(self) -> str:
        return f"RateLimiter(queries_per_hour={self.queries_per_hour}, queries_per_second={self.queries_per_second})"


_REGISTRY: dict[str, RateLimiter] = {}
_REGISTRY_LOCK = threading.Lock()


def shared_limiter(key: str, queries_per_hour: int | None = 60, queries_per_second: float | None = 3.0) -> RateLimiter:
    """The process-wide limiter for `key` (a Mixpanel project), created on first use with these budgets."""
    with _REGISTRY_LOCK:
        limiter = _REGISTRY.get(key)
        if limiter is None:
            limiter = RateLimiter(queries_per_hour, queries_per_second)
            _REGISTRY[key] = limiter
        return limiter


def reset_shared_limiters() -> None:
    """Forget every shared limiter (tests)."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()
