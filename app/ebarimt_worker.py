"""The e-Barimt worker loop: one per process, thin around issue_due_receipts."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.bootstrap import Container
from domain.services.issue_ebarimt import ReceiptPolicy, issue_due_receipts
from qpay.client import longest_call_seconds

logger = logging.getLogger(__name__)

IDLE_TICK_SECONDS = 1.0


async def run_ebarimt_worker(
    container: Container, stop: asyncio.Event, wake: asyncio.Event
) -> None:
    settings = container.settings
    longest = longest_call_seconds(
        settings.qpay_connect_timeout_seconds, settings.qpay_read_timeout_seconds
    )
    # A lease outlives an attempt's two QPay calls (a void, then a create).
    policy = ReceiptPolicy(lease_seconds=2 * longest + 30)
    while not stop.is_set():
        try:
            attempted = await issue_due_receipts(
                container.instance,
                uow=container.uow,
                gateway=container.gateway,
                clock=container.clock,
                policy=policy,
            )
        except Exception:  # the database may be away for a while
            logger.exception("e-Barimt pass failed")
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
