"""Use cases: give money back on a recorded payment (refundPayment), and
record the refunds QPay shows that were made elsewhere.

refund_payment, by the payment's method (domain/refunds.py):

    QPAY    in one transaction the key is claimed and a PENDING refund holds
            the payment's amount (a second refund is refused meanwhile);
            QPay is asked once, outside any transaction, like an invoice
            creation: never retried. REFUNDED completes the refund; a refusal
            (PAYMENT_SETTLED for P2P money: REFUND_NOT_SUPPORTED, or any
            other QPay error) removes the refund and its key, so nothing was
            written. A lost answer is checked with GET /v2/payment/{id}
            before anything is recorded: REFUNDED completes, PAID removes,
            no answer leaves the refund PENDING for settle_pending_refunds.
    others  given back at the desk: recorded COMPLETED in one transaction,
            any amount up to what is left of the payment.

Completing a refund lowers the invoice's (and the intent's) paid amount in
the same transaction, sends the intent to REFUNDED when all its money has
gone back, and returns the payment's e-Barimt receipts (the worker cancels
them at QPay).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import uuid4

from domain.errors import (
    DomainError,
    ErrorCode,
    GatewayRejected,
    GatewayUnavailable,
    Subject,
    idempotency_conflict,
    not_found,
)
from domain.events import RefundRecorded
from domain.idempotency import IdempotencyRecord, fingerprint
from domain.invoices import Invoice
from domain.money import ZERO, require_positive_amount
from domain.payments import Payment, PaymentId, PaymentMethod
from domain.ports import Clock, PaymentGateway, UnitOfWork, UnitOfWorkFactory
from domain.qpay_messages import RefundOutcome
from domain.refunds import (
    OUTSIDE_REASON,
    Refund,
    RefundChannel,
    RefundId,
    RefundStatus,
    apply_refund,
    refund_amount,
    refundable,
)
from domain.text import required_text

logger = logging.getLogger(__name__)

REFUNDED = "REFUNDED"
PAID = "PAID"


@dataclass(frozen=True, slots=True)
class RefundPayment:
    payment_id: PaymentId
    amount: Decimal | None
    reason: str | None
    idempotency_key: str | None
    # Who asked (a staff token's sub).
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentRefunded:
    refund: Refund
    payment: Payment
    invoice: Invoice
    replayed: bool = False
    # Set when the refund is left PENDING: QPay's answer was lost.
    pending_because: DomainError | None = None


async def refund_payment(
    cmd: RefundPayment,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
) -> PaymentRefunded:
    """Refund (or replay); raises DomainError, and then nothing is written."""
    asked = (
        None
        if cmd.amount is None
        else require_positive_amount(cmd.amount, Subject.AMOUNT)
    )
    reason = required_text(cmd.reason, Subject.REASON, max_length=1000)
    key = required_text(cmd.idempotency_key, Subject.IDEMPOTENCY_KEY, max_length=255)
    request_print = fingerprint(
        {
            "operation": "refundPayment",
            "payment_id": str(cmd.payment_id),
            "amount": None if asked is None else str(asked),
            "reason": reason,
        }
    )
    now = clock.now()
    async with uow() as tx:
        payment = await tx.payments.get(cmd.payment_id)
        if payment is None:
            raise not_found("payment", Subject.PAYMENT)
        invoice = await tx.invoices.get_for_update(payment.invoice_id)
        if invoice is None:
            raise not_found("invoice", Subject.PAYMENT)
        stored = await tx.idempotency.claim(
            IdempotencyRecord(key, request_print, invoice.id, now)
        )
        if stored is not None:
            return await _replay(tx, stored, request_print, payment, invoice)
        refunds = await tx.refunds.list_for_payments([payment.id])
        amount = refund_amount(payment, refunds, asked)
        through_qpay = payment.method is PaymentMethod.QPAY
        refund = Refund(
            id=RefundId(uuid4()),
            payment_id=payment.id,
            invoice_id=invoice.id,
            amount=amount,
            status=RefundStatus.PENDING,
            channel=RefundChannel.QPAY if through_qpay else RefundChannel.DESK,
            reason=reason,
            created_at=now,
            updated_at=now,
            actor=cmd.actor,
            intent_id=payment.intent_id,  # type: ignore[arg-type]
        )
        if not await tx.refunds.add(refund):
            raise DomainError(
                ErrorCode.REFUND_EXCEEDS_PAYMENT,
                "this payment is already refunded at QPay",
                Subject.PAYMENT,
            )
        await tx.idempotency.complete_refund(key, refund.id)
        if not through_qpay:
            done = await _complete_in(tx, refund, payment, invoice, now)
            await tx.commit()
            return PaymentRefunded(done.refund, payment, done.invoice)
        await tx.commit()
    return await _refund_at_qpay(refund, payment, uow=uow, gateway=gateway, clock=clock)


async def _replay(
    tx: UnitOfWork,
    stored: IdempotencyRecord,
    request_print: str,
    payment: Payment,
    invoice: Invoice,
) -> PaymentRefunded:
    refund = (
        await tx.refunds.get(RefundId(stored.refund_id))
        if stored.refund_id is not None and stored.fingerprint == request_print
        else None
    )
    if refund is None:
        raise idempotency_conflict()
    return PaymentRefunded(refund, payment, invoice, replayed=True)


async def _refund_at_qpay(
    refund: Refund,
    payment: Payment,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
) -> PaymentRefunded:
    qpay_payment_id = payment.qpay_payment_id or ""
    try:
        outcome = await gateway.refund_payment(qpay_payment_id, refund.reason)
    except GatewayUnavailable as error:
        if not error.may_have_reached:
            await _forget(refund, uow=uow)
            raise
        return await _after_lost_answer(
            refund, payment, error, uow=uow, gateway=gateway, clock=clock
        )
    except GatewayRejected:
        await _forget(refund, uow=uow)
        raise
    if outcome is RefundOutcome.NOT_SUPPORTED:
        await _forget(refund, uow=uow)
        raise DomainError(
            ErrorCode.REFUND_NOT_SUPPORTED,
            "QPay refunds card payments only; this one was paid from a bank app "
            "(P2P): give the money back another way",
            Subject.PAYMENT,
        )
    return await complete_refund(refund.id, uow=uow, clock=clock)


async def _after_lost_answer(
    refund: Refund,
    payment: Payment,
    lost: GatewayUnavailable,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
) -> PaymentRefunded:
    """QPay may have refunded: ask it before anything is recorded."""
    try:
        status = await gateway.payment_status(payment.qpay_payment_id or "")
    except DomainError:
        logger.warning(
            "refund %s of payment %s: QPay's answer was lost and its status is "
            "unknown; left PENDING",
            refund.id,
            payment.id,
        )
        return await _current(refund.id, uow=uow, pending_because=lost)
    if status == REFUNDED:
        return await complete_refund(refund.id, uow=uow, clock=clock)
    if status == PAID:
        await _forget(refund, uow=uow)
        raise GatewayUnavailable(
            f"{lost.message}; QPay still shows the payment paid, so nothing was "
            "refunded: try again",
            may_have_reached=False,
        )
    return await _current(refund.id, uow=uow, pending_because=lost)


async def _forget(refund: Refund, *, uow: UnitOfWorkFactory) -> None:
    """QPay refused: remove the PENDING refund and its key (nothing written)."""
    async with uow() as tx:
        await tx.invoices.get_for_update(refund.invoice_id)
        current = await tx.refunds.get(refund.id)
        if current is not None and current.status is RefundStatus.PENDING:
            await tx.refunds.delete(refund.id)
            await tx.commit()


async def _current(
    refund_id: RefundId,
    *,
    uow: UnitOfWorkFactory,
    pending_because: DomainError | None = None,
) -> PaymentRefunded:
    async with uow() as tx:
        refund = await tx.refunds.get(refund_id)
        if refund is None:
            raise not_found("refund")
        payment = await tx.payments.get(refund.payment_id)
        invoice = await tx.invoices.get(refund.invoice_id)
    if payment is None or invoice is None:
        raise not_found("payment", Subject.PAYMENT)
    return PaymentRefunded(refund, payment, invoice, pending_because=pending_because)


async def complete_refund(
    refund_id: RefundId, *, uow: UnitOfWorkFactory, clock: Clock
) -> PaymentRefunded:
    """Complete a PENDING refund QPay confirmed (at most once: whoever locks
    the invoice first does it; the others find it COMPLETED)."""
    async with uow() as tx:
        refund = await tx.refunds.get(refund_id)
        if refund is None:
            raise not_found("refund")
        invoice = await tx.invoices.get_for_update(refund.invoice_id)
        refund = await tx.refunds.get(refund_id)
        payment = await tx.payments.get(refund.payment_id) if refund else None
        if refund is None or invoice is None or payment is None:
            raise not_found("refund")
        if refund.status is not RefundStatus.PENDING:
            return PaymentRefunded(refund, payment, invoice)
        done = await _complete_in(tx, refund, payment, invoice, clock.now())
        await tx.commit()
    return PaymentRefunded(done.refund, payment, done.invoice)


@dataclass(frozen=True, slots=True)
class _Completed:
    refund: Refund
    invoice: Invoice


async def _complete_in(
    tx: UnitOfWork, refund: Refund, payment: Payment, invoice: Invoice, now: datetime
) -> _Completed:
    """Within `tx` (the invoice locked): the refund's money leaves."""
    intent = None
    intent_left = ZERO
    if payment.intent_id is not None:
        intent = await tx.intents.get_for_update(payment.intent_id)  # type: ignore[arg-type]
        siblings = [
            p
            for p in await tx.payments.list_for_invoices([invoice.id])
            if p.intent_id == payment.intent_id
        ]
        done = [
            r
            for r in await tx.refunds.list_for_payments([p.id for p in siblings])
            if r.status is RefundStatus.COMPLETED or r.id == refund.id
        ]
        intent_left = sum((p.amount for p in siblings), ZERO) - sum(
            (r.amount for r in done), ZERO
        )
    applied = apply_refund(
        refund, payment, invoice, intent, intent_left=intent_left, now=now
    )
    await tx.refunds.update(applied.refund)
    await tx.invoices.update(applied.invoice)
    if applied.intent is not None and applied.intent is not intent:
        await tx.intents.update(applied.intent)
    if payment.method is PaymentMethod.QPAY:
        await tx.receipts.return_for_payment(payment.id, now)
    tx.record(*applied.events)
    return _Completed(applied.refund, applied.invoice)


@dataclass(frozen=True, slots=True)
class OutsideRefunds:
    completed: tuple[Refund, ...]
    # QPay payment ids whose refund could not be recorded.
    failed: tuple[str, ...] = ()


async def record_outside_refunds(
    qpay_payment_ids: Iterable[str], *, uow: UnitOfWorkFactory, clock: Clock
) -> OutsideRefunds:
    """QPay shows these payments REFUNDED: record what is not recorded yet
    (a refund of ours still PENDING is completed instead). Returns the
    refunds completed by this call, and the QPay payment ids whose refund
    could not be recorded (logged with their traceback)."""
    completed: list[Refund] = []
    failed: list[str] = []
    for qpay_payment_id in sorted(set(qpay_payment_ids)):
        try:
            found = await _record_outside(qpay_payment_id, uow=uow, clock=clock)
        except Exception:
            # A bulkhead: one refund that cannot be recorded (a bug, a row
            # no rule foresaw) must not keep every later one from being
            # recorded; the ledger sweep flags it for a person.
            logger.exception("could not record QPay's refund of %s", qpay_payment_id)
            failed.append(qpay_payment_id)
            continue
        if found is not None:
            completed.append(found)
    return OutsideRefunds(tuple(completed), tuple(failed))


async def _record_outside(
    qpay_payment_id: str, *, uow: UnitOfWorkFactory, clock: Clock
) -> Refund | None:
    async with uow() as tx:
        payment = (await tx.payments.by_qpay_ids([qpay_payment_id])).get(
            qpay_payment_id
        )
        if payment is None:
            return None
        invoice = await tx.invoices.get_for_update(payment.invoice_id)
        if invoice is None:
            return None
        refunds = await tx.refunds.list_for_payments([payment.id])
        ours = [
            r for r in refunds if r.channel is not RefundChannel.DESK and r.holds_money
        ]
        now = clock.now()
        if ours and ours[0].status is RefundStatus.PENDING:
            refund = ours[0]
        elif ours or refundable(payment, refunds) == ZERO:
            return None
        else:
            refund = Refund(
                id=RefundId(uuid4()),
                payment_id=payment.id,
                invoice_id=invoice.id,
                amount=refundable(payment, refunds),
                status=RefundStatus.PENDING,
                channel=RefundChannel.OUTSIDE,
                reason=OUTSIDE_REASON,
                created_at=now,
                updated_at=now,
                intent_id=payment.intent_id,  # type: ignore[arg-type]
            )
            if not await tx.refunds.add(refund):
                return None
        done = await _complete_in(tx, refund, payment, invoice, now)
        await tx.commit()
    logger.info(
        "QPay shows payment %s refunded: %s %s recorded (refund %s)",
        qpay_payment_id,
        done.refund.amount,
        done.refund.channel.value,
        done.refund.id,
    )
    return done.refund


@dataclass(frozen=True, slots=True)
class PendingRefundsPolicy:
    # A refund younger than this may still be in its refundPayment call.
    settle_after: timedelta = timedelta(seconds=60)
    batch: int = 20


async def settle_pending_refunds(
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
    policy: PendingRefundsPolicy = PendingRefundsPolicy(),
) -> int:
    """Ask QPay about refunds left PENDING (their answer was lost): REFUNDED
    completes them, PAID fails them (the key then replays FAILED). Returns
    how many were settled either way."""
    async with uow() as tx:
        pending = await tx.refunds.pending(
            clock.now() - policy.settle_after, policy.batch
        )
        payments = {r.id: await tx.payments.get(r.payment_id) for r in pending}
    settled = 0
    for refund in pending:
        payment = payments[refund.id]
        if payment is None or payment.qpay_payment_id is None:
            continue
        try:
            status = await gateway.payment_status(payment.qpay_payment_id)
        except DomainError as error:
            logger.warning("pending refund %s: QPay away: %s", refund.id, error.code)
            continue
        if status == REFUNDED:
            await complete_refund(refund.id, uow=uow, clock=clock)
            settled += 1
        elif status == PAID:
            settled += await _fail(refund.id, uow=uow, clock=clock)
    return settled


async def _fail(refund_id: RefundId, *, uow: UnitOfWorkFactory, clock: Clock) -> int:
    async with uow() as tx:
        refund = await tx.refunds.get(refund_id)
        if refund is None:
            return 0
        await tx.invoices.get_for_update(refund.invoice_id)
        refund = await tx.refunds.get(refund_id)
        if refund is None or refund.status is not RefundStatus.PENDING:
            return 0
        failed = refund.failed(
            clock.now(), "QPay's answer was lost and it shows the payment still paid"
        )
        await tx.refunds.update(failed)
        tx.record(
            RefundRecorded(
                failed.id,
                failed.invoice_id,
                failed.payment_id,
                failed.amount,
                failed.status.value,
                failed.actor,
            )
        )
        await tx.commit()
    return 1
