"""The sliding-window limiter behind the abuse brakes."""

from __future__ import annotations

from app.ratelimit import SlidingWindowLimiter


class Tick:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_allows_up_to_the_limit_then_refuses_when_within_the_window() -> None:
    clock = Tick()
    limiter = SlidingWindowLimiter(3, 60, now=clock)

    results = [limiter.hit("a") for _ in range(5)]

    assert results == [True, True, True, False, False]
    assert limiter.blocked("a")
    assert limiter.hit("b")


def test_allows_again_when_the_window_has_passed() -> None:
    clock = Tick()
    limiter = SlidingWindowLimiter(2, 60, now=clock)
    limiter.hit("a")
    limiter.hit("a")

    clock.t = 61

    assert not limiter.blocked("a")
    assert limiter.hit("a")


def test_memory_stays_bounded_when_keys_are_many() -> None:
    limiter = SlidingWindowLimiter(1, 60, max_keys=100)

    for key in range(10_000):
        limiter.hit(str(key))

    assert len(limiter._hits) <= 100  # the bound is the point
