"""The poller loop: one per process, thin around poll_due_intents."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from app.bootstrap import Container
from app.request_context import start_run
from domain.services.poll_due_intents import PollPolicy, poll_due_intents

logger = logging.getLogger(__name__)

IDLE_TICK_SECONDS = 0.25


class CallbackHealth:
    """Who finds the payments. While QPay's callbacks announce (nearly) all of
    them, watched intents are polled `relax` times less often: QPay asks
    merchants not to poll blindly, and each poll is a QPay call. As soon as
    the poller finds payments the callbacks missed, the full cadence is back
    (a payment whose callback is lost then waits up to the relaxed interval).
    """

    def __init__(
        self,
        *,
        window_seconds: float = 600.0,
        minimum: int = 5,
        callback_share: float = 0.8,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window = window_seconds
        self._minimum = minimum
        self._share = callback_share
        self._now = now
        self._found: deque[tuple[float, bool]] = deque(maxlen=200)

    def note(self, *, by_callback: bool, count: int = 1) -> None:
        for _ in range(count):
            self._found.append((self._now(), by_callback))

    def callbacks_flowing(self) -> bool:
        horizon = self._now() - self._window
        recent = [by_callback for at, by_callback in self._found if at >= horizon]
        if len(recent) < self._minimum:
            return False
        return sum(recent) / len(recent) >= self._share


RELAX = 4.0


def policy_for(base: PollPolicy, health: CallbackHealth) -> PollPolicy:
    if not health.callbacks_flowing():
        return base
    relaxed = min(base.poll_interval * RELAX, base.max_interval)
    return replace(base, watched_interval=relaxed)


async def run_poller(
    container: Container, stop: asyncio.Event, health: CallbackHealth | None = None
) -> None:
    """Poll until `stop` is set; a pass in flight is finished, never cut."""
    ceiling = container.check_ceiling
    metrics = container.metrics
    health = health or CallbackHealth()
    failures = 0
    while not stop.is_set():
        start_run("poller")  # each pass's log lines share a run id
        try:
            result = await poll_due_intents(
                container.instance,
                uow=container.uow,
                single=container.autocommit_uow,
                gateway=container.gateway,
                clock=container.clock,
                policy=policy_for(container.poll_policy, health),
                # The poller spends only what callbacks and people left of the
                # ceiling; the QPay client counts every check (and retry).
                budget=ceiling.available(),
                on_check=ceiling.wait_for_token,
            )
        except Exception:  # the database may be away for a while
            failures += 1
            logger.exception("poller pass failed")
            await _sleep_unless(stop, min(0.5 * 2**failures, 10.0))
            continue
        failures = 0
        if result.found_money:
            health.note(by_callback=False, count=result.found_money)
        metrics.poller_lag.set(result.max_lag_seconds)
        if result.claimed:
            metrics.poller_checks.labels("settled").inc(result.settled)
            metrics.poller_checks.labels("expired").inc(result.expired)
            metrics.poller_checks.labels("failed").inc(result.failed)
        else:
            await _sleep_unless(stop, IDLE_TICK_SECONDS)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
