"""The one clock double: time moves only when a test says so.

It serves both clocks the code takes: `now()` is the domain's Clock port
(an aware datetime), and calling it gives epoch seconds, the clock the QPay
client and the simulator take (QPay's token expiries are epoch seconds).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


class FixedClock:
    def __init__(self, start: datetime | float | None = None) -> None:
        if isinstance(start, (int, float)):
            start = datetime.fromtimestamp(start, UTC)
        self.current = start or DEFAULT_START

    def now(self) -> datetime:
        return self.current

    def __call__(self) -> float:
        return self.current.timestamp()

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)
