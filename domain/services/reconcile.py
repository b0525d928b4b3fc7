"""Use case: `qpay-graph reconcile` asks QPay about every open intent now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from domain.errors import DomainError
from domain.intents import IntentId, IntentStatus
from domain.invoices import InvoiceId
from domain.ports import Clock, PaymentGateway, UnitOfWorkFactory
from domain.services.settle_qpay_intent import settle_qpay_intent


@dataclass(frozen=True, slots=True)
class ReconciledIntent:
    intent_id: IntentId
    invoice_id: InvoiceId
    before: IntentStatus
    after: IntentStatus | None  # None: QPay could not be asked
    amount: Decimal
    paid_amount: Decimal
    created_at: datetime
    error: str | None = None

    @property
    def needs_review(self) -> bool:
        return self.after is IntentStatus.NEEDS_REVIEW or (
            self.after is None and self.error is not None
        )


async def reconcile_open_intents(
    *, uow: UnitOfWorkFactory, gateway: PaymentGateway, clock: Clock
) -> list[ReconciledIntent]:
    """Check every PENDING intent (and report those already NEEDS_REVIEW)."""
    async with uow() as tx:
        open_intents = await tx.intents.list_open(gateway.environment)
    results: list[ReconciledIntent] = []
    for intent in open_intents:
        after: IntentStatus | None = intent.status
        paid = intent.paid_amount
        error: str | None = None
        if intent.status is IntentStatus.PENDING:
            try:
                outcome = await settle_qpay_intent(
                    intent.id, uow=uow, gateway=gateway, clock=clock
                )
                after, paid = outcome.intent.status, outcome.intent.paid_amount
            except DomainError as failure:
                after, error = None, f"{failure.code.value}: {failure.message}"
        results.append(
            ReconciledIntent(
                intent_id=intent.id,
                invoice_id=intent.invoice_id,
                before=intent.status,
                after=after,
                amount=intent.amount,
                paid_amount=paid,
                created_at=intent.created_at,
                error=error,
            )
        )
    return results
