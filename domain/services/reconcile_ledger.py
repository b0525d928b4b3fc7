"""Use cases: QPay's own payment list against the payments table.

compare_ledger reads QPay's payment/list for our invoice code over a period,
page by page, and compares it with the payments table:

    PAID, recorded            fine (a different amount or currency: MISMATCH)
    PAID, not recorded        its intent (in whatever state) is settled through
                              settle_qpay_intent, which asks QPay's payment/check
                              before anything is written; still not recorded
                              after that: UNCONFIRMED. No intent: UNMATCHED
    REFUNDED                  recorded as refunded, once (record_outside_refunds);
                              a payment not recorded yet is recorded first, as PAID
    unreadable                MALFORMED

sweep_ledger is the same comparison run continuously by `serve` (with the
refunds whose QPay answer was lost, settle_pending_refunds): one process
at a time (a lease on the environment's cursor row, database clock) sweeps
from where the last sweep ended, minus an overlap, to now, every
QPAY_LEDGER_SWEEP_SECONDS. So money on a closed intent is recorded within one
sweep even when its callback was lost, at one QPay call per 100 payments,
instead of polling every closed intent (QPay asks merchants not to poll).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.errors import DomainError
from domain.intents import IntentId, IntentStatus
from domain.ledger import LedgerFlag, LedgerFlagKind
from domain.payments import Payment
from domain.ports import Clock, PaymentGateway, UnitOfWork, UnitOfWorkFactory
from domain.qpay_messages import LedgerPage, LedgerRow, MalformedRow, QPayEnvironment
from domain.refunds import Refund
from domain.services.refund_payment import (
    REFUNDED,
    record_outside_refunds,
    settle_pending_refunds,
)
from domain.services.settle_qpay_intent import settle_qpay_intent

logger = logging.getLogger(__name__)

# QPay is asked for at most this many pages in one run (100 rows each).
MAX_PAGES = 1000

Progress = Callable[[int, int, int], None]  # (page, rows read, QPay's total)


@dataclass(frozen=True, slots=True)
class LedgerPolicy:
    interval_seconds: float = 300.0
    # Each sweep starts this much before the last one ended: a payment can
    # appear in QPay's list a little after its payment date.
    overlap: timedelta = timedelta(minutes=10)
    # The sweeping process renews its lease every third of this while it
    # works, so a sweeper killed mid-sweep holds the others off this long at
    # most (a long lease lost the chaos run's late money for ten minutes).
    lease_seconds: float = 60.0
    # After a failed sweep (QPay or the database away): try again this soon.
    retry_seconds: float = 30.0
    # The first sweep starts at the oldest intent, but no further back.
    first_lookback: timedelta = timedelta(days=7)
    # QPay lists payments by payment date, so a sweep from its cursor never
    # sees a refund made in QPay's portal days after the payment. Every
    # `recheck_seconds` a sweep starts this far back instead.
    recheck_lookback: timedelta = timedelta(days=7)
    recheck_seconds: float = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class LedgerReport:
    start: datetime
    end: datetime
    pages: int
    listed: int
    # Payments QPay holds that were missing here, recorded by this run.
    recorded: tuple[Payment, ...]
    # Everything this run flagged for a person (new or seen again).
    flags: tuple[LedgerFlag, ...]
    # Intents whose check failed (QPay away): their money is found next run.
    failed: tuple[IntentId, ...] = ()
    # Where the next run must start to see that money again (None: `end`).
    resume_from: datetime | None = None
    # Refunds QPay shows that this run recorded (made outside the service).
    refunds: tuple[Refund, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.failed


@dataclass
class _Findings:
    missing: dict[IntentId, set[str]] = field(default_factory=dict)
    # When QPay says each missing payment was made (None: it does not say).
    paid_at: dict[str, datetime | None] = field(default_factory=dict)
    flags: list[LedgerFlag] = field(default_factory=list)
    # Recorded payments QPay lists as REFUNDED.
    refunded: set[str] = field(default_factory=set)


async def compare_ledger(
    start: datetime,
    end: datetime,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
    progress: Progress | None = None,
) -> LedgerReport:
    """Compare QPay's payments made from `start` to `end` with ours; record
    what is missing (through settle_qpay_intent) and store a flag for what
    needs a person; commits. Raises QPAY_UNAVAILABLE or QPAY_REJECTED when
    QPay's list cannot be read (then nothing was flagged)."""
    findings = _Findings()
    pages = listed = 0
    for number in range(1, MAX_PAGES + 1):
        page = await gateway.list_payments(start, end, number)
        pages += 1
        listed += len(page.rows) + len(page.malformed)
        await _classify(page, findings, uow=uow, gateway=gateway)
        if progress is not None:
            progress(number, listed, page.total)
        if listed >= page.total or not (page.rows or page.malformed):
            break
    recorded, failed = await _record_missing(
        findings, uow=uow, gateway=gateway, clock=clock
    )
    refunds = await record_outside_refunds(findings.refunded, uow=uow, clock=clock)
    findings.flags.extend(
        LedgerFlag(
            LedgerFlagKind.REFUNDED,
            qpay_payment_id,
            f"QPay shows payment {qpay_payment_id} REFUNDED, and recording its "
            "refund failed (the service's log has why): record it by hand",
        )
        for qpay_payment_id in refunds.failed
    )
    resume_from = _resume_from(findings, failed, start)
    if findings.flags:
        async with uow() as tx:
            for flag in findings.flags:
                if await tx.ledger.raise_flag(gateway.environment, flag, clock.now()):
                    logger.warning("ledger: %s %s", flag.kind, flag.detail)
                if await _decided_in_review(tx, flag, gateway.environment):
                    # Raised after a person closed the review of the same
                    # row (resolveQPayReview resolves the ones before it).
                    await tx.ledger.resolve_flags(
                        gateway.environment,
                        str(flag.qpay_invoice_id),
                        LedgerFlagKind.MALFORMED,
                        clock.now(),
                    )
            await tx.commit()
    return LedgerReport(
        start,
        end,
        pages,
        listed,
        recorded,
        tuple(findings.flags),
        tuple(failed),
        resume_from,
        refunds.completed,
    )


async def _decided_in_review(
    tx: UnitOfWork, flag: LedgerFlag, environment: QPayEnvironment
) -> bool:
    """A MALFORMED flag on the QPay invoice of an intent whose review a
    person has closed (and that is not in review again): that decision
    covers the row."""
    if flag.kind is not LedgerFlagKind.MALFORMED or flag.qpay_invoice_id is None:
        return False
    refs = await tx.intents.refs_by_qpay_invoice([flag.qpay_invoice_id], environment)
    ref = refs.get(flag.qpay_invoice_id)
    intent = await tx.intents.get(ref.intent_id) if ref is not None else None
    return (
        intent is not None
        and intent.review is not None
        and intent.status is not IntentStatus.NEEDS_REVIEW
    )


def _resume_from(
    findings: _Findings, failed: list[IntentId], start: datetime
) -> datetime | None:
    """The earliest payment whose recording failed (the next run must see it
    again), so a sweep that could not record everything still moves on up to
    there: a window that only grew would, on a flaky QPay, never complete."""
    if not failed:
        return None
    moments = [
        findings.paid_at.get(payment_id)
        for intent_id in failed
        for payment_id in findings.missing[intent_id]
    ]
    if any(moment is None for moment in moments):
        return start
    return max(start, min(m for m in moments if m is not None))


async def _classify(
    page: LedgerPage,
    findings: _Findings,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
) -> None:
    invoice_ids = {row.qpay_invoice_id for row in page.rows if row.qpay_invoice_id}
    async with uow() as tx:
        known = await tx.payments.by_qpay_ids([row.payment_id for row in page.rows])
        refs = await tx.intents.refs_by_qpay_invoice(
            sorted(invoice_ids), gateway.environment
        )
    for row in page.rows:
        payment = known.get(row.payment_id)
        taken = row.is_paid or row.status == REFUNDED  # a refund was paid first
        if row.status == REFUNDED:
            findings.refunded.add(row.payment_id)
        if taken and payment is None:
            ref = refs.get(row.qpay_invoice_id or "")
            if ref is None:
                findings.flags.append(
                    _flag(LedgerFlagKind.UNMATCHED, row, _unmatched(row))
                )
            else:
                findings.missing.setdefault(ref.intent_id, set()).add(row.payment_id)
                findings.paid_at[row.payment_id] = row.paid_at
        elif row.is_paid and payment is not None and _differs(row, payment):
            findings.flags.append(
                _flag(
                    LedgerFlagKind.MISMATCH,
                    row,
                    f"QPay lists {row.amount} {row.currency}; recorded "
                    f"{payment.amount} {payment.currency}",
                )
            )
    findings.flags.extend(_malformed(bad) for bad in page.malformed)


async def _record_missing(
    findings: _Findings,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
) -> tuple[tuple[Payment, ...], list[IntentId]]:
    """Settle each intent with money missing here; QPay's check decides."""
    recorded: list[Payment] = []
    failed: list[IntentId] = []
    for intent_id, payment_ids in findings.missing.items():
        try:
            outcome = await settle_qpay_intent(
                intent_id, uow=uow, gateway=gateway, clock=clock
            )
        except DomainError as error:
            logger.warning(
                "ledger: check of intent %s failed: %s", intent_id, error.code
            )
            failed.append(intent_id)
            continue
        recorded.extend(outcome.recorded)
        async with uow() as tx:
            now_known = await tx.payments.by_qpay_ids(sorted(payment_ids))
        for payment_id in sorted(payment_ids - set(now_known)):
            findings.flags.append(
                LedgerFlag(
                    LedgerFlagKind.UNCONFIRMED,
                    payment_id,
                    f"QPay lists payment {payment_id} as PAID, but payment/check "
                    f"of its QPay invoice does not show it (intent {intent_id})",
                )
            )
    return tuple(recorded), failed


def _differs(row: LedgerRow, payment: Payment) -> bool:
    return row.amount != payment.amount or row.currency != payment.currency


def _unmatched(row: LedgerRow) -> str:
    on = f"QPay invoice {row.qpay_invoice_id}" if row.qpay_invoice_id else "no invoice"
    return (
        f"QPay took {row.amount} {row.currency} (payment {row.payment_id}) on {on}, "
        "which matches no intent of this service"
    )


def _flag(kind: LedgerFlagKind, row: LedgerRow, detail: str) -> LedgerFlag:
    return LedgerFlag(
        kind=kind,
        qpay_payment_id=row.payment_id,
        detail=detail,
        qpay_invoice_id=row.qpay_invoice_id,
        amount=row.amount,
        currency=row.currency,
        status=row.status,
    )


def _malformed(row: MalformedRow) -> LedgerFlag:
    return LedgerFlag(
        LedgerFlagKind.MALFORMED,
        row.payment_id or "",
        row.describe(),
        qpay_invoice_id=row.qpay_invoice_id,
    )


async def sweep_ledger(
    owner: str,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
    policy: LedgerPolicy,
    recheck: bool = False,
) -> LedgerReport | None:
    """Run the environment's next ledger sweep if it is due and no other
    process runs it; None otherwise. With `recheck` it starts
    `policy.recheck_lookback` back (late refunds of older payments). The
    cursor moves to the end of the period compared, or only up to the first
    payment that could not be recorded (then the next sweep comes after
    `retry_seconds`); when QPay's list cannot be read it stays, and the sweep
    is retried after `retry_seconds`."""
    environment = gateway.environment
    async with uow() as tx:
        claim = await tx.ledger.claim_sweep(environment, owner, policy.lease_seconds)
        await tx.commit()
    if claim is None:
        return None
    since = claim.swept_until
    if since is None:
        oldest = claim.now - policy.first_lookback
        since = max(claim.first_intent_at or claim.now, oldest)
    try:
        async with _lease_renewed(owner, uow=uow, gateway=gateway, policy=policy):
            start = since - policy.overlap
            if recheck:
                start = min(start, claim.now - policy.recheck_lookback)
            report = await compare_ledger(
                start, claim.now, uow=uow, gateway=gateway, clock=clock
            )
            # Refunds whose QPay answer was lost: asked again, one sweeper at
            # a time (a failure here leaves them for the next sweep).
            await settle_pending_refunds(uow=uow, gateway=gateway, clock=clock)
    except Exception:
        # (A cancellation, at shutdown, skips this: the lease lapses within
        # lease_seconds, as it does when the process is killed.)
        await _release(owner, uow=uow, gateway=gateway, policy=policy)
        raise
    # Up to where the ledger matched; sooner again when some money is left.
    swept_until = report.resume_from or claim.now
    next_in = policy.interval_seconds if report.complete else policy.retry_seconds
    async with uow() as tx:
        await tx.ledger.finish_sweep(environment, owner, swept_until, next_in)
        await tx.commit()
    return report


@contextlib.asynccontextmanager
async def _lease_renewed(
    owner: str,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    policy: LedgerPolicy,
) -> AsyncIterator[None]:
    """Renew the sweep's lease in the background while the block runs."""

    async def renew() -> None:
        while True:
            await asyncio.sleep(policy.lease_seconds / 3)
            try:
                async with uow() as tx:
                    held = await tx.ledger.extend_sweep(
                        gateway.environment, owner, policy.lease_seconds
                    )
                    await tx.commit()
            except Exception:  # the database away: the sweep itself will tell
                logger.warning("ledger sweep: renewing the lease failed")
                continue
            if not held:
                # Another process took the lapsed lease: both sweeps are
                # harmless (settling is idempotent); ours finishes unrecorded.
                logger.warning("ledger sweep: lease lost to another process")
                return

    renewing = asyncio.create_task(renew())
    try:
        yield
    finally:
        renewing.cancel()
        await asyncio.wait([renewing])  # (re-raises no CancelledError of its own)


async def _release(
    owner: str,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    policy: LedgerPolicy,
) -> None:
    async with uow() as tx:
        await tx.ledger.release_sweep(gateway.environment, owner, policy.retry_seconds)
        await tx.commit()
