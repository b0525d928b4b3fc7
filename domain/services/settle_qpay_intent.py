"""Use case: learn from QPay what was paid for an intent and settle it once.

The one entry point of the callback, the poller, checkQPayPayment,
cancelQPayInvoice and settleInvoice(QPAY). QPay is asked first, outside any
transaction; then one transaction locks the billing invoice row and then the
intent row (always this order, in every writer, so two settlers queue instead
of deadlocking), applies the settlement decision and commits. The unique
QPay payment id in `payments` is the last guard: a violation means another
settler recorded it, and the stored result is returned.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import uuid4

from domain.ebarimt import EbarimtReceipt, EbarimtStatus
from domain.errors import DomainError, ErrorCode, not_found
from domain.gateway import PaymentCheck, QPayEnvironment
from domain.intents import IntentId, IntentRef, IntentStatus, QPayIntent
from domain.invoices import Invoice, Payment
from domain.ports import Clock, DuplicateQPayPayment, PaymentGateway, UnitOfWorkFactory
from domain.settlement import decide_settlement

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SettlementOutcome:
    intent: QPayIntent
    invoice: Invoice
    # Payments this call recorded; empty when nothing new (or someone else did).
    recorded: tuple[Payment, ...] = ()


def require_same_environment(
    environment: QPayEnvironment, gateway: PaymentGateway
) -> None:
    """An intent is only ever asked about at the QPay that made it: after a
    switch of QPAY_ENV, the other environment's intents are left alone."""
    if environment is not gateway.environment:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"this QPay invoice was made in QPay {environment.value}; this "
            f"service talks to {gateway.environment.value}",
        )


async def settle_qpay_intent(
    intent_id: IntentId,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
    check: PaymentCheck | None = None,
    close_as: IntentStatus | None = None,
    ref: IntentRef | None = None,
) -> SettlementOutcome:
    """Ask QPay (unless `check` is given) and record what it says; commits.

    Idempotent: any number of concurrent calls record each QPay payment once.
    `close_as` (CANCELLED or EXPIRED) ends the intent when no money is found.
    `ref` (from a callback's token check) saves reading the intent first.
    Raises NOT_FOUND, QPAY_UNAVAILABLE, QPAY_REJECTED (nothing is written then).
    """
    if ref is None or ref.qpay_invoice_id is None:
        async with uow() as tx:
            intent = await tx.intents.get(intent_id)
        if intent is None or intent.qpay_invoice_id is None:
            raise not_found("QPay intent")
        ref = IntentRef(
            intent.id, intent.invoice_id, intent.qpay_invoice_id, intent.environment
        )
    assert ref.qpay_invoice_id is not None  # noqa: S101  # checked just above
    require_same_environment(ref.environment, gateway)
    if check is None:
        check = await gateway.check_payment(ref.qpay_invoice_id)
    if (
        close_as is None
        and not check.malformed
        and not any(row.is_paid for row in check.rows)
    ):
        # Nothing paid at QPay: nothing can change, skip the locking transaction.
        async with uow() as tx:
            current = await tx.intents.get(ref.intent_id)
            invoice = await tx.invoices.get(ref.invoice_id)
        if current is None or invoice is None:
            raise not_found("QPay intent")
        return SettlementOutcome(current, invoice)
    try:
        return await _apply(ref, check, uow=uow, clock=clock, close_as=close_as)
    except DuplicateQPayPayment as duplicate:
        logger.warning(
            "QPay payment %s already recorded elsewhere; intent %s unchanged",
            duplicate,
            intent_id,
        )
        async with uow() as tx:
            current = await tx.intents.get(ref.intent_id)
            invoice = await tx.invoices.get(ref.invoice_id)
        if current is None or invoice is None:
            raise not_found("QPay intent") from None
        return SettlementOutcome(current, invoice)


async def _apply(
    ref: IntentRef,
    check: PaymentCheck,
    *,
    uow: UnitOfWorkFactory,
    clock: Clock,
    close_as: IntentStatus | None,
) -> SettlementOutcome:
    async with uow() as tx:
        invoice = await tx.invoices.get_for_update(ref.invoice_id)
        locked = await tx.intents.get_for_update(ref.intent_id)
        if invoice is None or locked is None:
            raise not_found("QPay intent")
        known = await tx.payments.qpay_payment_ids(invoice.id)
        now = clock.now()
        decision = decide_settlement(
            locked, invoice, known, check, now=now, close_as=close_as
        )
        if not decision.changed:
            return SettlementOutcome(locked, invoice)
        for payment in decision.payments:
            await tx.payments.add(payment)
        if decision.invoice != invoice:
            await tx.invoices.update(decision.invoice)
        await tx.intents.update(decision.intent, raw={"payment_check": dict(check.raw)})
        request = locked.ebarimt
        if request is not None:
            # No e-Barimt for money in another currency (it is not counted).
            for payment in (p for p in decision.payments if p.counts):
                receipt = EbarimtReceipt(
                    id=uuid4(),
                    payment_id=payment.id,
                    status=EbarimtStatus.PENDING,
                    receiver_type=request.receiver_type,
                    receiver=request.receiver,
                    lottery=None,
                    qr_data=None,
                    last_error=None,
                    attempts=0,
                    created_at=now,
                )
                await tx.receipts.add_pending(receipt, locked.id)
        tx.intent_changed(decision.intent.id, decision.intent.version)
        await tx.commit()
    for event in decision.events:
        logger.info("settlement %s", event)
    return SettlementOutcome(decision.intent, decision.invoice, decision.payments)
