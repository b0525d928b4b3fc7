"""Use cases behind the paymentStatus subscription (each a short transaction)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.ebarimt import EbarimtStatus
from domain.intents import IntentId, QPayIntent
from domain.invoices import Invoice
from domain.ports import UnitOfWorkFactory
from domain.secrets import secret_matches


@dataclass(frozen=True, slots=True)
class PaymentStatus:
    intent: QPayIntent
    invoice: Invoice
    # An e-Barimt receipt of this intent is still being issued.
    receipt_pending: bool = False

    @property
    def is_final(self) -> bool:
        """Nothing more will change that the checkout screen shows."""
        return self.intent.is_terminal and not self.receipt_pending


async def client_secret_valid(
    intent_id: IntentId, client_secret: str | None, *, uow: UnitOfWorkFactory
) -> bool:
    """True when `client_secret` is one this intent handed out (constant time)."""
    async with uow() as tx:
        stored = await tx.intents.secrets(intent_id)
    if stored is None:
        # Compare anyway so unknown and known intents take the same time.
        secret_matches(client_secret, ("0" * 64,))
        return False
    return secret_matches(client_secret, stored.client_secret_hashes)


async def read_payment_status(
    intent_id: IntentId,
    *,
    uow: UnitOfWorkFactory,
    watch_seconds: float | None = None,
    poll_interval: float | None = None,
) -> PaymentStatus | None:
    """The intent and its invoice now; with `watch_seconds`, also tell the
    poller (on any process) that a checkout screen is watching."""
    async with uow() as tx:
        if watch_seconds is not None and poll_interval is not None:
            await tx.intents.mark_watched(intent_id, watch_seconds, poll_interval)
        intent = await tx.intents.get(intent_id)
        invoice = await tx.invoices.get(intent.invoice_id) if intent else None
        pending = False
        if intent is not None and intent.ebarimt is not None and intent.settled:
            payments = await tx.payments.list_for_invoices([intent.invoice_id])
            mine = [p.id for p in payments if p.intent_id == intent.id]
            receipts = await tx.receipts.list_for_payments(mine)
            pending = any(r.status is EbarimtStatus.PENDING for r in receipts)
        if watch_seconds is not None:
            await tx.commit()
    if intent is None or invoice is None or not intent.is_created:
        return None
    return PaymentStatus(intent, invoice, receipt_pending=pending)
