"""Per-process rate limits.

SlidingWindowLimiter: abuse brakes, not quotas. They live in process memory:
with N processes an attacker gets N times the budget, which is fine for their
purpose (cheap rejection of floods before any database or QPay work). Memory
is bounded: at most `max_keys` keys are kept.

CheckCeiling: QPAY_MAX_CHECKS_PER_SECOND, the per-process ceiling on QPay's
payment/check. Every check is counted, whoever makes it (callback, person,
expiry, poller, a retry); only the poller waits for the ceiling, because its
checks are the blind ones QPay asks merchants to keep few. A check answering a
callback or a person is never delayed; it leaves less for the poller.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class SlidingWindowLimiter:
    def __init__(
        self,
        limit: int,
        window_seconds: float,
        *,
        max_keys: int = 50_000,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self._max_keys = max_keys
        self._now = now
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            hits = deque()
            self._hits[key] = hits
            if len(self._hits) > self._max_keys:
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(key)
        horizon = self._now() - self.window
        while hits and hits[0] <= horizon:
            hits.popleft()
        return hits

    def blocked(self, key: str) -> bool:
        """True when `key` used its whole budget in the window (records nothing)."""
        return len(self._recent(key)) >= self.limit

    def hit(self, key: str) -> bool:
        """Record one use; False (and nothing recorded) when over the limit."""
        hits = self._recent(key)
        if len(hits) >= self.limit:
            return False
        hits.append(self._now())
        return True


class CheckCeiling:
    """A token bucket of `rate` checks per second (burst `capacity`). spend()
    takes a token for a check being made now, into debt if need be (at most
    `max_debt` seconds' worth); the poller waits for a whole token first."""

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        *,
        max_debt_seconds: float = 10.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(rate, 1.0)
        self._floor = -rate * max_debt_seconds
        self._now = now
        self._tokens = self.capacity
        self._stamp = now()

    def _refill(self) -> None:
        now = self._now()
        self._tokens = min(
            self.capacity, self._tokens + (now - self._stamp) * self.rate
        )
        self._stamp = now

    def available(self) -> int:
        """Whole tokens left now (0 while in debt)."""
        self._refill()
        return max(0, int(self._tokens))

    def spend(self) -> None:
        """Count one check made now."""
        self._refill()
        self._tokens = max(self._floor, self._tokens - 1)

    async def wait_for_token(self) -> None:
        """Wait until a whole token is there (the check that follows spends it)."""
        while True:
            self._refill()
            if self._tokens >= 1:
                return
            await asyncio.sleep((1 - self._tokens) / self.rate)
