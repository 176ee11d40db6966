from __future__ import annotations

import threading

import pytest

from hitcraft_assets.mixpanel.ratelimit import (
    RateLimiter,
    reset_shared_limiters,
    shared_limiter,
)


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _limiter(clock: FakeClock, per_hour=60, per_second=3.0) -> RateLimiter:
    return RateLimiter(per_hour, per_second, clock=clock, sleep=clock.sleep)


def test_per_second_budget():
    clock = FakeClock()
    limiter = _limiter(clock)
    starts = []
    for _ in range(7):
        limiter.acquire()
        starts.append(clock.now)
    # never more than 3 starts in any 1-second window
    for i in range(len(starts) - 3):
        assert starts[i + 3] - starts[i] >= 1.0 - 1e-9
    assert starts[:3] == [1000.0] * 3
    assert starts[3] == pytest.approx(1001.0)
    assert starts[6] == pytest.approx(1002.0)


def test_hourly_budget():
    clock = FakeClock()
    limiter = _limiter(clock, per_hour=60, per_second=3.0)
    starts = []
    for _ in range(61):
        limiter.acquire()
        starts.append(clock.now)
    # 60 fit in the first ~20 s (3/s); the 61st waits until the first one is an hour old
    assert starts[59] - starts[0] < 25
    assert starts[60] - starts[0] == pytest.approx(3600.0)
    assert limiter.acquired == 61
    assert limiter.total_waited == pytest.approx(starts[60] - starts[0])


def test_hourly_budget_is_sliding():
    clock = FakeClock()
    limiter = _limiter(clock, per_hour=2, per_second=None)
    limiter.acquire()
    clock.now += 1800
    limiter.acquire()
    assert limiter.wait_time() == pytest.approx(1800.0)
    waited = limiter.acquire()
    assert waited == pytest.approx(1800.0)
    assert limiter.wait_time() == pytest.approx(1800.0)  # the second request is now the oldest


def test_fractional_rate():
    clock = FakeClock()
    limiter = _limiter(clock, per_hour=None, per_second=0.5)
    limiter.acquire()
    assert limiter.acquire() == pytest.approx(2.0)


def test_unlimited_never_sleeps():
    clock = FakeClock()
    limiter = RateLimiter(None, 0, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        limiter.acquire()
    assert clock.sleeps == []
    assert RateLimiter.unlimited().wait_time() == 0.0


def test_thread_safe_budget():
    """Many threads against a real clock: a budget of 5/hour lets exactly 5 through without waiting."""
    released = []
    limiter = RateLimiter(5, None, sleep=lambda s: (_ for _ in ()).throw(TimeoutError()))
    lock = threading.Lock()

    def worker():
        try:
            limiter.acquire()
        except TimeoutError:
            return
        with lock:
            released.append(1)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(released) == 5


def test_shared_registry():
    reset_shared_limiters()
    a = shared_limiter("project-1")
    assert shared_limiter("project-1") is a
    assert shared_limiter("project-2") is not a
    reset_shared_limiters()
    assert shared_limiter("project-1") is not a
