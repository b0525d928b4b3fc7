"""FakeHistory: the invoices' history, appended at commit (see unit_of_work)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from domain.events import (
    DomainEvent,
    IntentChanged,
    PaymentRecorded,
    ReceiptChanged,
    RefundRecorded,
)
from domain.history import HistoryEntry, PaymentEventKind
from domain.invoices import InvoiceId
from domain.payments import PaymentId
from tests.fakes.uow.base import FakeRepository
from tests.fakes.uow.store import Transaction


class FakeHistory(FakeRepository):
    async def last_id(self) -> int:
        return max((e.id for e in self._uow.store.history), default=0)

    async def after(self, entry_id: int, limit: int) -> Sequence[HistoryEntry]:
        found = sorted(
            (e for e in self._uow.store.history if e.id > entry_id), key=lambda e: e.id
        )
        return found[:limit]

    async def list_for_invoices(
        self, invoice_ids: Sequence[InvoiceId]
    ) -> Sequence[HistoryEntry]:
        wanted = set(invoice_ids)
        found = [e for e in self._uow.store.history if e.invoice_id in wanted]
        return sorted(found, key=lambda e: (e.invoice_id, e.id))


def entries(
    tx: Transaction, events: Sequence[DomainEvent], first_id: int, now: datetime
) -> list[HistoryEntry]:
    """What persistence/history.py's INSERT ... SELECT writes: the invoice
    read from the row each event is about; an event about no row, nothing."""
    made: list[HistoryEntry] = []
    for event in events:
        entry: HistoryEntry | None = None
        if isinstance(event, PaymentRecorded):
            payment = tx.payments.get(event.payment_id)
            if payment is not None:
                entry = HistoryEntry(
                    0,
                    payment.invoice_id,
                    PaymentEventKind.PAYMENT_RECORDED,
                    now,
                    payment_id=payment.id,
                    intent_id=payment.intent_id,  # type: ignore[arg-type]
                    actor=event.actor,
                )
        elif isinstance(event, IntentChanged):
            intent = tx.intents.get(event.intent_id)
            if intent is not None:
                entry = HistoryEntry(
                    0,
                    intent.invoice_id,
                    PaymentEventKind.INTENT_CHANGED,
                    now,
                    intent_id=intent.id,
                    intent_status=event.status,
                    actor=event.actor,
                )
        elif isinstance(event, ReceiptChanged):
            intent = tx.intents.get(event.intent_id)
            if intent is not None:
                payment_id = event.payment_id
                entry = HistoryEntry(
                    0,
                    intent.invoice_id,
                    PaymentEventKind.RECEIPT_CHANGED,
                    now,
                    payment_id=PaymentId(payment_id) if payment_id else None,
                    intent_id=intent.id,
                    receipt_id=event.receipt_id,
                    actor=event.actor,
                )
        elif isinstance(event, RefundRecorded):
            refund = tx.refunds.get(event.refund_id)
            if refund is not None:
                entry = HistoryEntry(
                    0,
                    refund.invoice_id,
                    PaymentEventKind.REFUND_RECORDED,
                    now,
                    payment_id=refund.payment_id,
                    intent_id=refund.intent_id,
                    refund_id=refund.id,
                    actor=event.actor,
                )
        if entry is not None:
            made.append(replace(entry, id=first_id + len(made)))
    return made
