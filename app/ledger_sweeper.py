"""The ledger sweeper loop: one per process, thin around sweep_ledger.

Every process ticks; the database lease lets one of them sweep when a sweep
is due (QPAY_LEDGER_SWEEP_SECONDS), so N processes cost QPay what one does.
Each tick also reads the sweep's state for the metrics, whoever swept.
Every policy.recheck_seconds (and first after a start) a process's sweep
reaches a week back, for refunds made at QPay long after their payment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter

from app.bootstrap import Container
from domain.ledger import LedgerFlagKind
from domain.services.reconcile_ledger import LedgerPolicy, sweep_ledger

logger = logging.getLogger(__name__)

MAX_TICK_SECONDS = 15.0


async def run_ledger_sweeper(container: Container, stop: asyncio.Event) -> None:
    settings = container.settings
    policy = LedgerPolicy(interval_seconds=settings.qpay_ledger_sweep_seconds)
    tick = min(policy.interval_seconds, MAX_TICK_SECONDS)
    recheck_at = 0.0
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            recheck = loop.time() >= recheck_at
            if await sweep_once(container, policy, recheck=recheck) and recheck:
                recheck_at = loop.time() + policy.recheck_seconds
        except Exception:
            # QPay or the database away: the lease lapses, the sweep retries.
            logger.exception("ledger sweep failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), tick)


async def sweep_once(
    container: Container, policy: LedgerPolicy, *, recheck: bool = False
) -> bool:
    """One tick: sweep if due, then publish the ledger's state as metrics.
    True when this process swept."""
    metrics = container.metrics
    report = await sweep_ledger(
        container.instance,
        uow=container.uow,
        gateway=container.gateway,
        clock=container.clock,
        policy=policy,
        recheck=recheck,
    )
    if report is not None:
        metrics.ledger_found.inc(len(report.recorded))
        if report.recorded:
            logger.warning(
                "ledger sweep recorded %d payment(s) whose callback was lost",
                len(report.recorded),
            )
    environment = container.gateway.environment
    async with container.uow() as tx:
        state = await tx.ledger.sweep_state(environment)
        flags = await tx.ledger.open_flags(environment)
    metrics.ledger_lag.set(state.lag_seconds)
    kinds = Counter(flag.kind for flag in flags)
    for kind in LedgerFlagKind:
        metrics.ledger_flags.labels(kind.value).set(kinds[kind])
    metrics.ledger_unmatched.set(kinds[LedgerFlagKind.UNMATCHED])
    return report is not None
