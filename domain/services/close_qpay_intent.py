"""Use cases: an intent ends without money. Closing is not settling: nothing
is asked of QPay here, the intent just stops being payable, through the same
locked step as a settlement (apply_decision) so the two never interleave.

`close_qpay_intent` is the step itself, for a caller that has made sure QPay
takes no more money on the invoice (cancelled it there). `expire_qpay_intent`
is the poller's end of an intent past its TTL: a last check, a cancel at
QPay, then EXPIRED, or the money that check or cancel turned up.
"""

from __future__ import annotations

from datetime import datetime

from domain.intents import IntentId, IntentStatus, QPayIntent
from domain.invoices import Invoice
from domain.ports import Clock, PaymentGateway, UnitOfWorkFactory
from domain.qpay_messages import CancelOutcome
from domain.services.settle_qpay_intent import (
    apply_decision,
    intent_ref,
    settle_qpay_intent,
)
from domain.settlement import SettlementDecision, decide_closing


async def close_qpay_intent(
    intent_id: IntentId,
    status: IntentStatus,
    *,
    uow: UnitOfWorkFactory,
    clock: Clock,
    actor: str | None = None,
) -> QPayIntent:
    """End a PENDING intent as `status` (CANCELLED or EXPIRED); an intent in
    any other state is returned as it is. Commits. Raises NOT_FOUND."""
    ref = await intent_ref(intent_id, uow=uow)

    def decide(
        intent: QPayIntent, invoice: Invoice, _known: frozenset[str], now: datetime
    ) -> SettlementDecision:
        return decide_closing(intent, invoice, status, now=now)

    closed = await apply_decision(ref, decide, uow=uow, clock=clock, actor=actor)
    return closed.intent


async def expire_qpay_intent(
    intent_id: IntentId,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
) -> QPayIntent:
    """Past its TTL: a last check, then cancel at QPay, then EXPIRED. Money
    the check finds, or a cancel QPay refuses because the invoice is paid,
    settles it instead. Raises QPAY_* (the poller tries again later)."""
    outcome = await settle_qpay_intent(intent_id, uow=uow, gateway=gateway, clock=clock)
    if outcome.intent.status is not IntentStatus.PENDING or outcome.intent.settled:
        return outcome.intent
    qpay_invoice_id = outcome.intent.qpay_invoice_id
    assert qpay_invoice_id is not None  # noqa: S101  # settled intents are created
    cancelled = await gateway.cancel_invoice(qpay_invoice_id)
    if cancelled is CancelOutcome.ALREADY_PAID:
        paid = await settle_qpay_intent(
            intent_id, uow=uow, gateway=gateway, clock=clock
        )
        return paid.intent
    return await close_qpay_intent(
        intent_id, IntentStatus.EXPIRED, uow=uow, clock=clock
    )
