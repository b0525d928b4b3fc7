"""Use cases: staff cancels a QPay invoice that was not paid; a bill paid in
full by other means closes its QPay invoices that are still payable."""

from __future__ import annotations

import logging

from domain.errors import DomainError, ErrorCode, Subject, not_found
from domain.intents import IntentId, IntentStatus, QPayIntent
from domain.invoices import InvoiceId
from domain.ports import Clock, PaymentGateway, UnitOfWorkFactory
from domain.qpay_messages import CancelOutcome
from domain.services.close_qpay_intent import close_qpay_intent
from domain.services.settle_qpay_intent import (
    require_same_environment,
    settle_qpay_intent,
)

logger = logging.getLogger(__name__)


async def cancel_qpay_invoice(
    intent_id: IntentId,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
    actor: str | None = None,
) -> QPayIntent:
    """Cancel at QPay, then mark the intent CANCELLED; if QPay says the invoice
    is already paid, settle it instead. Cancelling a CANCELLED intent returns
    it unchanged. Raises NOT_FOUND, INTENT_NOT_PENDING, QPAY_*."""
    async with uow() as tx:
        intent = await tx.intents.get(intent_id)
    if intent is None or intent.qpay_invoice_id is None:
        raise not_found("QPay intent", Subject.INTENT)
    require_same_environment(intent.environment, gateway)
    if intent.status is IntentStatus.CANCELLED:
        return intent
    if intent.status is not IntentStatus.PENDING:
        raise DomainError(
            ErrorCode.INTENT_NOT_PENDING,
            f"intent is {intent.status.value}, not PENDING",
            Subject.INTENT,
        )
    outcome = await gateway.cancel_invoice(intent.qpay_invoice_id)
    if outcome is CancelOutcome.ALREADY_PAID:
        settled = await settle_qpay_intent(
            intent_id, uow=uow, gateway=gateway, clock=clock, actor=actor
        )
        return settled.intent
    # QPay refuses payment on a cancelled invoice, so no check is needed; money
    # that still arrives later is recorded by the callback and sent to review.
    return await close_qpay_intent(
        intent_id, IntentStatus.CANCELLED, uow=uow, clock=clock, actor=actor
    )


async def cancel_open_intents(
    invoice_id: InvoiceId,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
    actor: str | None = None,
) -> list[QPayIntent]:
    """The bill is paid: cancel its PENDING QPay invoices at QPay so no QR stays
    payable. Best effort, after the payment committed: an intent QPay cannot
    cancel now stays PENDING (the poller expires it), and money QPay still
    takes on any of them is recorded. Returns the intents after the attempt."""
    async with uow() as tx:
        intents = await tx.intents.list_for_invoices([invoice_id])
    closed: list[QPayIntent] = []
    for intent in intents:
        if intent.status is not IntentStatus.PENDING:
            continue
        try:
            closed.append(
                await cancel_qpay_invoice(
                    intent.id, uow=uow, gateway=gateway, clock=clock, actor=actor
                )
            )
        except DomainError as error:
            logger.warning(
                "could not cancel QPay intent %s of paid invoice %s: %s",
                intent.id,
                invoice_id,
                error.code,
            )
    return closed
