"""Use case behind `qpay-graph reconcile`: QPay against our books, now.

It checks every intent that is still PENDING with QPay (payment/check), then
compares QPay's payment list for a period with the payments table
(compare_ledger: money on closed intents, payments no intent matches,
refunds made at QPay, recorded), and asks QPay again about refunds whose
answer was lost. What needs a person: intents in NEEDS_REVIEW (until
resolveQPayReview closes them), open
ledger flags, e-Barimt receipts that ended FAILED, and anything that could not
be checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from domain.ebarimt import EbarimtReceipt
from domain.errors import DomainError
from domain.intents import IntentId, IntentStatus
from domain.invoices import InvoiceId
from domain.ledger import LedgerFlag
from domain.ports import Clock, PaymentGateway, UnitOfWorkFactory
from domain.services.reconcile_ledger import LedgerReport, Progress, compare_ledger
from domain.services.refund_payment import settle_pending_refunds
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


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    intents: Sequence[ReconciledIntent]
    ledger: LedgerReport | None
    # Why QPay's payment list could not be compared (None: it was).
    ledger_error: str | None
    # Every ledger finding nobody has resolved, this run's and older ones.
    open_flags: Sequence[LedgerFlag]
    # e-Barimt receipts that ended FAILED: a person issues them at QPay.
    failed_receipts: Sequence[EbarimtReceipt] = ()

    @property
    def needs_person(self) -> bool:
        return (
            any(row.needs_review for row in self.intents)
            or bool(self.open_flags)
            or bool(self.failed_receipts)
            or self.ledger_error is not None
            or (self.ledger is not None and not self.ledger.complete)
        )


async def reconcile(
    start: datetime,
    end: datetime,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
    progress: Progress | None = None,
) -> ReconcileReport:
    """Check open intents, then compare QPay's payments from `start` to `end`
    with ours, recording what is missing; commits."""
    intents = await reconcile_open_intents(uow=uow, gateway=gateway, clock=clock)
    ledger: LedgerReport | None = None
    ledger_error: str | None = None
    try:
        ledger = await compare_ledger(
            start, end, uow=uow, gateway=gateway, clock=clock, progress=progress
        )
    except DomainError as failure:
        ledger_error = f"{failure.code.value}: {failure.message}"
    await settle_pending_refunds(uow=uow, gateway=gateway, clock=clock)
    async with uow() as tx:
        open_flags = await tx.ledger.open_flags(gateway.environment)
        failed = await tx.receipts.list_failed(gateway.environment)
    return ReconcileReport(intents, ledger, ledger_error, open_flags, failed)


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
