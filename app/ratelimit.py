"""Per-process sliding-window rate limits (abuse brakes, not quotas).

They live in process memory: with N processes an attacker gets N times the
budget, which is fine for their purpose (cheap rejection of floods before any
database or QPay work). Memory is bounded: at most `max_keys` keys are kept.
"""

from __future__ import annotations

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
