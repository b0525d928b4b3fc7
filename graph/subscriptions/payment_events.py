"""paymentEvents: the front desk's live feed (design.md §8), staff only.

Every payment recorded, intent changed and receipt changed, as it commits, on
any process: each commit that writes history announces HISTORY_TOPIC on the
event hub (the transport carries it across processes like an intent's
change), and each subscriber reads what it has not sent from the history.
No snapshot: a screen reads the day with the queries, then follows this; a
screen that reconnects reads again. A lost wake-up costs one resync interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncGenerator

from domain.errors import ErrorCode
from domain.events import HISTORY_TOPIC
from domain.services.follow_history import HistoryFollower
from graph.context import Info
from graph.errors import PublicError
from graph.types.payment_event import PaymentEvent

STAFF_ONLY = "paymentEvents needs a valid staff token (in connection_init)"


async def follow_payment_events(info: Info) -> AsyncGenerator[PaymentEvent, None]:
    services = info.context.services
    viewer = info.context.viewer
    if viewer is None:
        raise PublicError(STAFF_ONLY, ErrorCode.FORBIDDEN.value)
    if viewer.expires_at <= services.clock.now():
        raise PublicError("the staff token has expired", ErrorCode.FORBIDDEN.value)
    with services.hub.subscribe(HISTORY_TOPIC) as wakeups:
        # Registered before the starting point is read: nothing falls between.
        async with services.reads:
            follower = await HistoryFollower.start(uow=services.uow)
        while True:
            if viewer.expires_at <= services.clock.now():
                raise PublicError(
                    "the staff token has expired", ErrorCode.FORBIDDEN.value
                )
            resync = services.resync_seconds * random.uniform(0.8, 1.2)  # noqa: S311
            # asyncio.timeout, not wait_for: see payment_status.py.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(resync):
                    await wakeups.get()
            while True:
                async with services.reads:
                    fresh = await follower.read(uow=services.uow)
                for entry, invoice in fresh:
                    yield PaymentEvent.from_domain(entry, invoice)
                if not follower.more_to_read(fresh):
                    break
