"""Use case: record a payment on a billing invoice (settleInvoice).

QPAY is never taken on the client's word: it is confirmed with QPay through
settle_qpay_intent. Every other method needs an idempotency key: the same key
and input replays the first result; the same key with another input is a
conflict; concurrent requests with one key record one payment (the key row is
inserted with ON CONFLICT, which waits for the first inserter).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import uuid4

from domain.ebarimt import EbarimtRequest
from domain.errors import (
    DomainError,
    ErrorCode,
    Subject,
    idempotency_conflict,
    not_found,
)
from domain.events import PaymentRecorded
from domain.idempotency import IdempotencyRecord, fingerprint
from domain.intents import IntentId
from domain.invoices import Invoice, InvoiceId, InvoiceStatus
from domain.money import ZERO, require_positive_amount
from domain.payments import Payment, PaymentId, PaymentMethod
from domain.ports import Clock, PaymentGateway, UnitOfWork, UnitOfWorkFactory
from domain.services.cancel_qpay_invoice import cancel_open_intents
from domain.services.check_qpay_payment import CHECK_WINDOW_SECONDS
from domain.services.settle_qpay_intent import settle_qpay_intent
from domain.text import clean_text


@dataclass(frozen=True, slots=True)
class SettleInvoice:
    invoice_id: InvoiceId
    method: PaymentMethod
    amount: Decimal
    qpay_intent_id: IntentId | None = None
    ebarimt: EbarimtRequest | None = None
    idempotency_key: str | None = None
    # Who asked (a staff token's sub), for the invoice's history.
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class InvoiceSettled:
    invoice: Invoice
    payment: Payment | None
    already_settled: bool


async def settle_invoice(
    cmd: SettleInvoice,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
) -> InvoiceSettled:
    """Record (or replay) a payment; commits. Raises DomainError with the
    contract's codes; nothing is written when it does."""
    amount = require_positive_amount(cmd.amount, Subject.AMOUNT)
    if cmd.method is PaymentMethod.QPAY:
        return await _settle_qpay(cmd, amount, uow=uow, gateway=gateway, clock=clock)
    key = clean_text(
        cmd.idempotency_key, Subject.IDEMPOTENCY_KEY, max_length=255, required=True
    )
    assert key is not None  # noqa: S101  # required=True never returns None
    if cmd.ebarimt is not None:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "e-Barimt through QPay needs a QPay payment",
            Subject.EBARIMT,
        )
    if cmd.qpay_intent_id is not None:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "qpayIntentId is only for method QPAY",
            Subject.INTENT,
        )
    request_print = fingerprint(
        {
            "invoice_id": str(cmd.invoice_id),
            "method": cmd.method.value,
            "amount": str(amount),
        }
    )
    now = clock.now()
    async with uow() as tx:
        invoice = await tx.invoices.get_for_update(cmd.invoice_id)
        if invoice is None:
            raise not_found("invoice", Subject.INVOICE)
        stored = await tx.idempotency.claim(
            IdempotencyRecord(key, request_print, cmd.invoice_id, now)
        )
        if stored is not None:
            return await _replay(tx, stored, request_print, invoice)
        await _check_can_pay(tx, invoice, cmd.method, amount)
        payment = Payment(
            id=PaymentId(uuid4()),
            invoice_id=invoice.id,
            method=cmd.method,
            amount=amount,
            created_at=now,
        )
        await tx.payments.add(payment)
        paid = invoice.with_payments(amount, now)
        await tx.invoices.update(paid)
        await tx.idempotency.complete(key, payment.id)
        tx.record(
            PaymentRecorded(payment.id, invoice.id, amount, None, actor=cmd.actor)
        )
        await tx.commit()
    if paid.balance == ZERO:
        # Paid at the desk: a QR still on the screen must not take money too.
        closed = await cancel_open_intents(
            invoice.id, uow=uow, gateway=gateway, clock=clock, actor=cmd.actor
        )
        if any(intent.settled for intent in closed):
            # QPay had taken money on one meanwhile: it is recorded; show it.
            async with uow() as tx:
                paid = await tx.invoices.get(invoice.id) or paid
    return InvoiceSettled(paid, payment, already_settled=False)


async def _replay(
    tx: UnitOfWork, stored: IdempotencyRecord, request_print: str, invoice: Invoice
) -> InvoiceSettled:
    if stored.fingerprint != request_print or stored.payment_id is None:
        raise idempotency_conflict()
    payment = await tx.payments.get(stored.payment_id)
    return InvoiceSettled(invoice, payment, already_settled=True)


async def _check_can_pay(
    tx: UnitOfWork, invoice: Invoice, method: PaymentMethod, amount: Decimal
) -> None:
    if invoice.status is InvoiceStatus.VOID:
        raise DomainError(ErrorCode.INVOICE_VOID, "invoice is void", Subject.INVOICE)
    if invoice.balance <= ZERO:
        raise DomainError(
            ErrorCode.INVOICE_ALREADY_PAID, "invoice is already paid", Subject.INVOICE
        )
    config = await tx.methods.get(method)
    if config is None or not config.enabled:
        raise DomainError(
            ErrorCode.METHOD_DISABLED, f"{method.value} is disabled", Subject.METHOD
        )
    if amount > invoice.balance:
        raise DomainError(
            ErrorCode.AMOUNT_EXCEEDS_BALANCE,
            f"amount exceeds the balance {invoice.balance}",
            Subject.AMOUNT,
        )


async def _settle_qpay(
    cmd: SettleInvoice,
    amount: Decimal,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
) -> InvoiceSettled:
    if cmd.qpay_intent_id is None:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "QPAY needs qpayIntentId", Subject.INTENT
        )
    async with uow() as tx:
        intent = await tx.intents.get(cmd.qpay_intent_id)
        if intent is None or not intent.is_created:
            raise not_found("QPay intent", Subject.INTENT)
        if intent.invoice_id != cmd.invoice_id:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "the QPay intent belongs to another invoice",
                Subject.INTENT,
            )
        if amount != intent.amount:
            raise DomainError(
                ErrorCode.INVALID_AMOUNT,
                f"amount must equal the QPay intent's amount {intent.amount}",
                Subject.AMOUNT,
            )
        config = await tx.methods.get(PaymentMethod.QPAY)
        if config is None or not config.enabled:
            raise DomainError(
                ErrorCode.METHOD_DISABLED, "QPAY is disabled", Subject.METHOD
            )
        if cmd.ebarimt is not None and intent.ebarimt is None:
            await tx.intents.remember_ebarimt(intent.id, cmd.ebarimt)
        # Paid in full: the answer is already known, but QPay is still asked (at
        # most once per window) for money taken since, such as a second scan.
        ask = not intent.paid_in_full or await tx.schedule.claim_check(
            intent.id, CHECK_WINDOW_SECONDS
        )
        await tx.commit()
    recorded: tuple[Payment, ...] = ()
    if ask:
        outcome = await settle_qpay_intent(
            intent.id, uow=uow, gateway=gateway, clock=clock, actor=cmd.actor
        )
        recorded = outcome.recorded
    return await _qpay_answer(intent.id, recorded, uow=uow)


async def _qpay_answer(
    intent_id: IntentId, recorded: tuple[Payment, ...], *, uow: UnitOfWorkFactory
) -> InvoiceSettled:
    """The intent's first payment, once QPay took its whole amount."""
    async with uow() as tx:
        intent = await tx.intents.get(intent_id)
        if intent is None:
            raise not_found("QPay intent", Subject.INTENT)
        invoice = await tx.invoices.get(intent.invoice_id)
        payments = await tx.payments.list_for_invoices([intent.invoice_id])
    if invoice is None:
        raise not_found("invoice", Subject.INVOICE)
    if intent.paid_amount == ZERO:
        raise DomainError(
            ErrorCode.PAYMENT_NOT_CONFIRMED,
            "QPay does not show this invoice as paid",
            Subject.INTENT,
        )
    if not intent.paid_in_full:
        raise DomainError(
            ErrorCode.PAYMENT_NOT_CONFIRMED,
            f"QPay shows {intent.paid_amount} of {intent.amount} paid for this QPay "
            f"invoice; the intent is {intent.status.value}",
            Subject.INTENT,
        )
    first = next(p for p in payments if p.intent_id == intent_id)
    fresh = {payment.id for payment in recorded}
    return InvoiceSettled(invoice, first, already_settled=first.id not in fresh)
