"""Tells the poller which intents checkout screens watch, in batches.

One statement per round for every intent this process's subscriptions
watch (instead of one write per subscription per resync): immediately when an
intent gets its first subscriber, and every `every` seconds to keep the
watched-until time ahead of now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.bootstrap import Container
from domain.intents import IntentId
from domain.services.watch_payment_status import note_watched

logger = logging.getLogger(__name__)

WATCH_SECONDS = 30.0
REFRESH_EVERY = 10.0
DEBOUNCE = 0.2


async def run_watch_keeper(container: Container, stop: asyncio.Event) -> None:
    hub = container.hub
    while not stop.is_set():
        hub.new_watch.clear()
        ids = [IntentId(i) for i in hub.watched()]
        try:
            await note_watched(
                ids,
                uow=container.uow,
                seconds=WATCH_SECONDS,
                poll_interval=container.settings.qpay_poll_interval_seconds,
            )
        except Exception as error:  # the database may be away for a while
            logger.warning("could not mark watched intents: %s", type(error).__name__)
        waiters = [
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(hub.new_watch.wait()),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED),
                REFRESH_EVERY,
            )
        for waiter in waiters:
            waiter.cancel()
        await asyncio.sleep(DEBOUNCE)
