"""Use case: the poller's pass over due intents (any number of processes).

Due intents are claimed with a lease (FOR UPDATE SKIP LOCKED, database clock)
so no two processes check one intent at a time; QPay is called outside any
transaction; the result goes through settle_qpay_intent like every other path,
and an intent past its TTL through expire_qpay_intent (close_qpay_intent.py).
Cadence: `poll_interval` while a checkout screen watches (or the relaxed
`watched_interval` the caller sets while callbacks are flowing), backing off
to `max_interval` otherwise. At expiry: one last check, then cancel at QPay, then
EXPIRED (or settlement, if the check or the cancel finds money). QPay errors
only postpone: an intent is never failed or expired because QPay is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from domain.errors import DomainError
from domain.intents import IntentStatus, QPayIntent
from domain.ports import Clock, DueIntent, PaymentGateway, UnitOfWorkFactory
from domain.services.close_qpay_intent import expire_qpay_intent
from domain.services.settle_qpay_intent import settle_if_paid

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PollPolicy:
    poll_interval: float
    max_interval: float
    lease_seconds: float = 30.0
    batch: int = 20
    concurrency: int = 8
    # Cadence for watched intents; None means poll_interval. The poller
    # relaxes it while QPay's callbacks are announcing the payments.
    watched_interval: float | None = None


@dataclass(frozen=True, slots=True)
class PollResult:
    claimed: int
    settled: int
    expired: int
    failed: int
    max_lag_seconds: float = 0.0
    # Intents in which this pass found money nobody had recorded yet.
    found_money: int = 0


async def poll_due_intents(
    owner: str,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
    policy: PollPolicy,
    budget: int,
    on_check: Callable[[], Awaitable[None]] | None = None,
    single: UnitOfWorkFactory | None = None,
) -> PollResult:
    """Claim up to `budget` due intents, check each once, reschedule; commits.

    `single`: units of work without a transaction (one statement each), for
    the release of each lease; `uow` when not given."""
    limit = min(policy.batch, budget)
    if limit <= 0:
        return PollResult(0, 0, 0, 0)
    async with uow() as tx:
        due = await tx.schedule.claim_due(
            owner, limit, policy.lease_seconds, gateway.environment
        )
        await tx.commit()
    semaphore = asyncio.Semaphore(policy.concurrency)

    async def one(item: DueIntent) -> Checked:
        async with semaphore:
            if on_check is not None:
                await on_check()
            return await _check_one(
                item,
                owner,
                uow=uow,
                single=single or uow,
                gateway=gateway,
                clock=clock,
                policy=policy,
            )

    checked = await asyncio.gather(*(one(item) for item in due))
    lag = max((item.lag_seconds for item in due), default=0.0)
    return PollResult(
        len(due),
        settled=sum(1 for c in checked if c.settled),
        expired=sum(1 for c in checked if c.expired),
        failed=sum(1 for c in checked if c.failed),
        max_lag_seconds=lag,
        found_money=sum(1 for c in checked if c.recorded),
    )


@dataclass(frozen=True, slots=True)
class Checked:
    """One intent's check: QPay failed to answer, or what it led to."""

    failed: bool = False
    settled: bool = False
    expired: bool = False
    # This check recorded a payment.
    recorded: bool = False

    @classmethod
    def of(cls, intent: QPayIntent, *, recorded: bool = False) -> Checked:
        return cls(
            settled=intent.settled,
            expired=intent.status is IntentStatus.EXPIRED,
            recorded=recorded,
        )


FAILED = Checked(failed=True)
# QPay answered and showed nothing paid: nothing changed.
NOTHING_PAID = Checked()


def next_delay(item: DueIntent, policy: PollPolicy, *, failed: bool) -> float:
    """Seconds until the next check: the poll interval while watched, otherwise
    doubling per unwatched check up to the ceiling; errors back off too."""
    if item.watched and not failed:
        return policy.watched_interval or policy.poll_interval
    exponent = min(item.check_count, 16)
    return float(min(policy.poll_interval * (2**exponent), policy.max_interval))


async def _check_one(
    item: DueIntent,
    owner: str,
    *,
    uow: UnitOfWorkFactory,
    single: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
    policy: PollPolicy,
) -> Checked:
    checked = FAILED
    try:
        if item.expired:
            intent = await expire_qpay_intent(
                item.intent_id, uow=uow, gateway=gateway, clock=clock
            )
            checked = Checked.of(intent)
        else:
            outcome = await settle_if_paid(
                item.ref, uow=uow, gateway=gateway, clock=clock
            )
            checked = (
                NOTHING_PAID
                if outcome is None
                else Checked.of(outcome.intent, recorded=bool(outcome.recorded))
            )
    except DomainError as error:
        logger.warning("poll of intent %s failed: %s", item.intent_id, error.code)
    except Exception:
        # A bug or the database: this intent backs off, the others go on.
        logger.exception("poll of intent %s failed", item.intent_id)
    # Released whatever the check raised; only a cancellation (shutdown) skips
    # this, and then the lease lapses by itself. One statement: no transaction.
    async with single() as tx:
        await tx.schedule.release(
            item.intent_id, owner, next_delay(item, policy, failed=checked.failed)
        )
        await tx.commit()
    return checked
