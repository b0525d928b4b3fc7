"""Use case: learn from QPay what was paid for an intent and settle it once.

The one entry point of the callback, the poller, checkQPayPayment,
cancelQPayInvoice, settleInvoice(QPAY) and the ledger sweep. QPay is asked
first, outside any transaction; then one transaction locks the billing
invoice row and then the intent row (always this order, in every writer, so
two settlers queue instead of deadlocking), applies the settlement decision
and commits (apply_decision, which closing shares:
domain/services/close_qpay_intent.py). The unique
QPay payment id in `payments` is the last guard: a violation means another
settler recorded it, and the stored result is returned. A recorded payment
QPay now shows REFUNDED is recorded as refunded first
(domain/services/refund_payment.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import uuid4

from domain.ebarimt import EbarimtReceipt, EbarimtStatus
from domain.errors import DomainError, ErrorCode, not_found
from domain.events import acting
from domain.intents import IntentId, IntentRef, QPayIntent
from domain.invoices import Invoice
from domain.payments import Payment
from domain.ports import Clock, DuplicateQPayPayment, PaymentGateway, UnitOfWorkFactory
from domain.qpay_messages import PAID, PaymentCheck, QPayEnvironment
from domain.services.refund_payment import REFUNDED, record_outside_refunds
from domain.settlement import SettlementDecision, decide_settlement
from domain.status import PaymentStatus

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
    actor: str | None = None,
) -> SettlementOutcome:
    """Ask QPay and record what it says; commits.

    Idempotent: any number of concurrent calls record each QPay payment once.
    Raises NOT_FOUND, QPAY_UNAVAILABLE, QPAY_REJECTED (nothing is written then).
    """
    ref = await intent_ref(intent_id, uow=uow)
    return await settle_known_intent(
        ref, uow=uow, gateway=gateway, clock=clock, actor=actor
    )


async def settle_known_intent(
    ref: IntentRef,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
    actor: str | None = None,
) -> SettlementOutcome:
    """settle_qpay_intent for a caller that has already read what the intent
    is (a callback's token check): one read fewer."""
    outcome = await settle_if_paid(
        ref, uow=uow, gateway=gateway, clock=clock, actor=actor
    )
    if outcome is None:
        return await current_outcome(ref, uow=uow)
    return outcome


async def settle_if_paid(
    ref: IntentRef,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
    actor: str | None = None,
) -> SettlementOutcome | None:
    """settle_known_intent for a caller that does not need the intent as it
    is (the poller, the callback's settlement): None when QPay shows nothing
    paid, and then nothing is read or written."""
    if ref.qpay_invoice_id is None:
        raise not_found("QPay intent")
    require_same_environment(ref.environment, gateway)
    answer = await gateway.check_payment(ref.qpay_invoice_id)
    check, refunded = taken_then_refunded(answer)
    if not check.malformed and not any(row.is_paid for row in check.rows):
        # Nothing paid at QPay: nothing can change, skip the locking transaction.
        return None

    def decide(
        intent: QPayIntent, invoice: Invoice, known: frozenset[str], now: datetime
    ) -> SettlementDecision:
        return decide_settlement(intent, invoice, known, check, now=now)

    outcome = await apply_decision(
        ref,
        decide,
        uow=uow,
        clock=clock,
        raw={"payment_check": dict(answer.raw)},
        actor=actor,
    )
    if not refunded:
        return outcome
    # Refunded at QPay (by us, or in its portal): recorded once, after the
    # money it gave back.
    await record_outside_refunds(refunded, uow=uow, clock=clock)
    return replace(await current_outcome(ref, uow=uow), recorded=outcome.recorded)


def taken_then_refunded(check: PaymentCheck) -> tuple[PaymentCheck, list[str]]:
    """QPay's answer with its REFUNDED rows read as money it took (a refund
    is of money paid first: a payment we never recorded, its callback lost,
    is recorded before its refund), and the ids of those rows."""
    refunded = [row.payment_id for row in check.rows if row.status == REFUNDED]
    if not refunded:
        return check, []
    rows = tuple(
        replace(row, status=PAID) if row.status == REFUNDED else row
        for row in check.rows
    )
    return replace(check, rows=rows), refunded


async def intent_ref(intent_id: IntentId, *, uow: UnitOfWorkFactory) -> IntentRef:
    """What an intent is (its bill, its QPay invoice, its environment), for
    an intent QPay has made; NOT_FOUND otherwise."""
    async with uow() as tx:
        intent = await tx.intents.get(intent_id)
    if intent is None or intent.qpay_invoice_id is None:
        raise not_found("QPay intent")
    return IntentRef(
        intent.id, intent.invoice_id, intent.qpay_invoice_id, intent.environment
    )


async def current_outcome(
    ref: IntentRef, *, uow: UnitOfWorkFactory
) -> SettlementOutcome:
    """The intent and its bill as they are, nothing recorded by this call."""
    async with uow() as tx:
        current = await tx.intents.get(ref.intent_id)
        invoice = await tx.invoices.get(ref.invoice_id)
    if current is None or invoice is None:
        raise not_found("QPay intent")
    return SettlementOutcome(current, invoice)


Decide = Callable[[QPayIntent, Invoice, frozenset[str], datetime], SettlementDecision]


async def apply_decision(
    ref: IntentRef,
    decide: Decide,
    *,
    uow: UnitOfWorkFactory,
    clock: Clock,
    raw: Mapping[str, object] | None = None,
    actor: str | None = None,
) -> SettlementOutcome:
    """The locked step every change of an intent goes through (settling and
    closing): lock the billing invoice, then the intent; `decide` from the
    locked rows and the QPay payment ids already recorded; store the payments,
    the bill, the intent (merging `raw` into its QPay answers) and a pending
    e-Barimt receipt per counted payment; commit. A duplicate QPay payment id
    means another settler recorded it first: its result is returned."""
    try:
        return await _apply(ref, decide, uow=uow, clock=clock, raw=raw, actor=actor)
    except DuplicateQPayPayment as duplicate:
        logger.warning(
            "QPay payment %s already recorded elsewhere; intent %s unchanged",
            duplicate,
            ref.intent_id,
        )
        return await current_outcome(ref, uow=uow)


async def _apply(
    ref: IntentRef,
    decide: Decide,
    *,
    uow: UnitOfWorkFactory,
    clock: Clock,
    raw: Mapping[str, object] | None,
    actor: str | None,
) -> SettlementOutcome:
    async with uow() as tx:
        invoice = await tx.invoices.get_for_update(ref.invoice_id)
        settling = await tx.intents.lock_for_settlement(ref.intent_id)
        if invoice is None or settling is None:
            raise not_found("QPay intent")
        locked, known = settling
        now = clock.now()
        decision = decide(locked, invoice, known, now)
        if not decision.changed:
            return SettlementOutcome(locked, invoice)
        await tx.intents.store_settlement(
            decision.intent,
            payments=decision.payments,
            invoice=decision.invoice if decision.invoice != invoice else None,
            raw=raw,
        )
        queued = False
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
                queued = True
        tx.record(*acting(decision.events, actor))
        if request is None or queued:
            # Whether a receipt is still being issued is known here only when
            # none was ever asked for, or one was just queued; otherwise the
            # subscribers re-read.
            tx.announce(
                PaymentStatus(decision.intent, decision.invoice, receipt_pending=queued)
            )
        await tx.commit()
    for event in decision.events:
        logger.info("settlement %s", event)
    return SettlementOutcome(decision.intent, decision.invoice, decision.payments)
