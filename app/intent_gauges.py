"""The intent gauges loop: one per process, every METRICS_REFRESH_SECONDS.

Money that is stuck shows here before anyone calls: an intent waiting in
NEEDS_REVIEW for a person, a PENDING intent the poller should have expired
long ago (it is asleep, or QPay keeps failing). Each round reads
persistence/intent_stats.py's one statement and sets qpay_intents{status,
environment}, qpay_intent_oldest_needs_review_seconds{environment} and
qpay_intent_oldest_overdue_pending_seconds{environment}; every status and
environment is set, 0 when there are none, so an emptied status does not keep
its last count. A failed read keeps the previous figures; the
qpay_intent_stats_refreshed_timestamp_seconds gauge stops moving and
qpay_intent_stats_failures_total counts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from app.metrics import Metrics
from domain.intents import IntentStatus
from domain.qpay_messages import QPayEnvironment
from persistence.intent_stats import read_intent_stats

logger = logging.getLogger(__name__)

READ_TIMEOUT_SECONDS = 10.0


async def refresh_intent_gauges(engine: AsyncEngine, metrics: Metrics) -> None:
    """Read the figures once and set the gauges (raises what the read raises)."""
    async with asyncio.timeout(READ_TIMEOUT_SECONDS):
        stats = await read_intent_stats(engine)
    environments = [environment.value for environment in QPayEnvironment]
    counts = {
        (status.value, environment): stats.counts.get((status.value, environment), 0)
        for status in IntentStatus
        for environment in environments
    }
    metrics.set_intent_stats(
        counts,
        {e: stats.oldest_review_seconds.get(e, 0.0) for e in environments},
        {e: stats.oldest_overdue_seconds.get(e, 0.0) for e in environments},
    )


async def run_intent_gauges(
    engine: AsyncEngine, metrics: Metrics, stop: asyncio.Event, every: float
) -> None:
    while not stop.is_set():
        try:
            await refresh_intent_gauges(engine, metrics)
        except Exception as error:  # the database may be away for a while
            metrics.intent_stats_failures.inc()
            logger.warning("could not read the intent gauges: %s", type(error).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
