"""The e-Barimt worker loop: one per process, thin around issue_due_receipts."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.bootstrap import Container
from domain.services.issue_ebarimt import ReceiptPolicy, issue_due_receipts

logger = logging.getLogger(__name__)

IDLE_TICK_SECONDS = 1.0


async def run_ebarimt_worker(
    container: Container, stop: asyncio.Event, wake: asyncio.Event
) -> None:
    policy = ReceiptPolicy()
    while not stop.is_set():
        try:
            attempted = await issue_due_receipts(
                uow=container.uow,
                gateway=container.gateway,
                clock=container.clock,
                policy=policy,
            )
        except Exception as error:  # the database may be away for a while
            logger.warning("e-Barimt pass failed: %s", type(error).__name__)
            attempted = 0
        if attempted:
            container.metrics.ebarimt.labels("attempted").inc(attempted)
            continue
        wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_first(stop, wake), IDLE_TICK_SECONDS)


async def _first(stop: asyncio.Event, wake: asyncio.Event) -> None:
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
