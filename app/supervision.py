"""Supervision of the background loops (poller, e-Barimt worker, watch keeper,
ledger sweeper): a loop that dies is logged with its traceback and started
again with backoff, and /readyz reports it while it is down.

Each loop catches the failures it expects (QPay away, the database away) and
goes on by itself; the supervisor is for the ones nobody expected, so that one
bug in one pass does not silently stop the settling of payments for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

Loop = Callable[[], Awaitable[None]]


@dataclass
class _Watched:
    name: str
    task: asyncio.Task[None] | None = None
    running: bool = False
    deaths: deque[float] = field(default_factory=lambda: deque(maxlen=16))


class Supervisor:
    """Starts named loops and restarts each one that dies, with backoff."""

    def __init__(
        self,
        stop: asyncio.Event,
        *,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        flapping_window: float = 60.0,
        flapping_deaths: int = 3,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base = base_delay
        self._max = max_delay
        self._window = flapping_window
        self._flapping = flapping_deaths
        self._now = now
        # The loops' own stop event: set, it ends them and their supervision.
        self._stopping = stop
        self._loops: dict[str, _Watched] = {}

    def start(self, name: str, loop: Loop) -> None:
        watched = _Watched(name)
        self._loops[name] = watched
        watched.task = asyncio.create_task(self._keep(watched, loop), name=name)

    def down(self) -> list[str]:
        """Loops not running now, or dying again and again (a crash loop)."""
        horizon = self._now() - self._window
        return sorted(
            watched.name
            for watched in self._loops.values()
            if not watched.running
            or sum(1 for at in watched.deaths if at >= horizon) >= self._flapping
        )

    @property
    def tasks(self) -> list[asyncio.Task[None]]:
        return [w.task for w in self._loops.values() if w.task is not None]

    async def stop(self, grace_seconds: float) -> None:
        """Set the stop event, wait up to `grace_seconds` for the loops to end
        (a pass in flight finishes its step), then cancel what is left."""
        self._stopping.set()
        tasks = self.tasks
        if not tasks:
            return
        _, stuck = await asyncio.wait(tasks, timeout=grace_seconds)
        for task in stuck:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _keep(self, watched: _Watched, loop: Loop) -> None:
        failures = 0
        while not self._stopping.is_set():
            watched.running = True
            try:
                await loop()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("background loop %s died; restarting", watched.name)
            else:
                if self._stopping.is_set():
                    return
                logger.error(
                    "background loop %s ended by itself; restarting", watched.name
                )
            watched.running = False
            watched.deaths.append(self._now())
            failures += 1
            delay = min(self._base * 2 ** (failures - 1), self._max)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
        watched.running = False
