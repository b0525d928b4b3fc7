"""Tells the poller which intents checkout screens watch, in batches, and is
the subscriptions' safety net.

Each intent a subscription of this process watches is marked at once when it
gets its first subscriber, then every WATCH_REFRESH_SECONDS, in one statement
per round for all that are due. The statement keeps the watched-until time
ahead of now (so the poller on any process checks these intents often) and
returns each intent's version, which is handed to the hub like a
notification: a subscription whose push was lost sees the higher version and
re-reads. Thousands of idle screens cost one small query per round instead of
one re-read each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from uuid import UUID

from app.bootstrap import Container
from domain.intents import IntentId
from domain.services.watch_payment_status import note_watched

logger = logging.getLogger(__name__)

# A mark keeps an intent watched for this many refresh intervals.
WATCH_REFRESHES = 3
ROUND_SECONDS = 1.0


def due(
    watched: list[UUID], marked: dict[UUID, float], now: float, every: float
) -> list[UUID]:
    """Intents never marked, or marked `every` seconds ago or more."""
    return [i for i in watched if now - marked.get(i, float("-inf")) >= every]


async def run_watch_keeper(container: Container, stop: asyncio.Event) -> None:
    hub = container.hub
    marked: dict[UUID, float] = {}
    every = container.settings.watch_refresh_seconds
    while not stop.is_set():
        hub.new_watch.clear()
        now = time.monotonic()
        watched = hub.watched()
        batch = due(watched, marked, now, every)
        try:
            versions = await note_watched(
                [IntentId(i) for i in batch],
                uow=container.uow,
                seconds=WATCH_REFRESHES * every,
                poll_interval=container.settings.qpay_poll_interval_seconds,
            )
            for intent_id, version in versions:
                hub.deliver(intent_id, version)
            for key in batch:
                marked[key] = now
        except Exception:  # the database may be away for a while
            logger.exception("could not mark watched intents")
        current = set(watched)
        for gone in [i for i in marked if i not in current]:
            del marked[gone]
        waiters = [
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(hub.new_watch.wait()),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED),
                ROUND_SECONDS,
            )
        for waiter in waiters:
            waiter.cancel()
        # A burst of new screens is marked together, a moment later.
        await asyncio.sleep(0.2)
