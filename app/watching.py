"""Tells the poller which intents checkout screens watch, in batches, and is
the subscriptions' safety net.

One statement per round, for every intent this process's subscriptions
watch: immediately when an intent gets its first subscriber, then every
REFRESH_EVERY seconds. It keeps the watched-until time ahead of now (so the
poller on any process checks these intents often) and returns each intent's
version, which is handed to the hub like a notification: a subscription
whose push was lost sees the higher version and re-reads. Thousands of idle
screens cost one query per round instead of one re-read each.
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
            versions = await note_watched(
                ids,
                uow=container.uow,
                seconds=WATCH_SECONDS,
                poll_interval=container.settings.qpay_poll_interval_seconds,
            )
            for intent_id, version in versions:
                hub.deliver(intent_id, version)
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
