"""The invoices' history (payment_events): written at commit from the domain
events a transaction recorded, read per invoice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import RowMapping, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.events import (
    DomainEvent,
    IntentChanged,
    PaymentRecorded,
    ReceiptChanged,
    RefundRecorded,
)
from domain.history import HistoryEntry, PaymentEventKind
from domain.intents import IntentId, IntentStatus
from domain.invoices import InvoiceId
from domain.payments import PaymentId
from persistence.sql import intents, payment_events, payments, refunds

_COLUMNS = (
    "invoice_id",
    "kind",
    "payment_id",
    "intent_id",
    "receipt_id",
    "refund_id",
    "intent_status",
    "actor",
)


def _entry_source(event: DomainEvent) -> Any:
    """A SELECT of one history row: the invoice is read from the row the event
    is about (written earlier in the same transaction)."""
    if isinstance(event, PaymentRecorded):
        return select(
            payments.c.invoice_id,
            literal(PaymentEventKind.PAYMENT_RECORDED.value),
            payments.c.id,
            payments.c.intent_id,
            literal(None, type_=payments.c.id.type),
            literal(None, type_=payments.c.id.type),
            literal(None, type_=intents.c.status.type),
            literal(event.actor, type_=payment_events.c.actor.type),
        ).where(payments.c.id == event.payment_id)
    if isinstance(event, IntentChanged):
        return select(
            intents.c.invoice_id,
            literal(PaymentEventKind.INTENT_CHANGED.value),
            literal(None, type_=payments.c.id.type),
            intents.c.id,
            literal(None, type_=payments.c.id.type),
            literal(None, type_=payments.c.id.type),
            literal(event.status.value, type_=intents.c.status.type),
            literal(event.actor, type_=payment_events.c.actor.type),
        ).where(intents.c.id == event.intent_id)
    if isinstance(event, RefundRecorded):
        return select(
            refunds.c.invoice_id,
            literal(PaymentEventKind.REFUND_RECORDED.value),
            refunds.c.payment_id,
            refunds.c.intent_id,
            literal(None, type_=payments.c.id.type),
            refunds.c.id,
            literal(None, type_=intents.c.status.type),
            literal(event.actor, type_=payment_events.c.actor.type),
        ).where(refunds.c.id == event.refund_id)
    assert isinstance(event, ReceiptChanged)  # noqa: S101  # the union is closed
    return select(
        intents.c.invoice_id,
        literal(PaymentEventKind.RECEIPT_CHANGED.value),
        literal(event.payment_id, type_=payments.c.id.type),
        intents.c.id,
        literal(event.receipt_id, type_=payments.c.id.type),
        literal(None, type_=payments.c.id.type),
        literal(None, type_=intents.c.status.type),
        literal(event.actor, type_=payment_events.c.actor.type),
    ).where(intents.c.id == event.intent_id)


async def append(conn: AsyncConnection, events: Sequence[DomainEvent]) -> None:
    """One INSERT for every event of the transaction, in their order."""
    if not events:
        return
    sources = [_entry_source(event) for event in events]
    source = sources[0] if len(sources) == 1 else sources[0].union_all(*sources[1:])
    await conn.execute(payment_events.insert().from_select(list(_COLUMNS), source))


class SqlAlchemyHistoryRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def last_id(self) -> int:
        found = await self._conn.scalar(select(func.max(payment_events.c.id)))
        return int(found or 0)

    async def after(self, entry_id: int, limit: int) -> Sequence[HistoryEntry]:
        result = await self._conn.execute(
            select(payment_events)
            .where(payment_events.c.id > entry_id)
            .order_by(payment_events.c.id)
            .limit(limit)
        )
        return [_entry(row) for row in result.mappings()]

    async def list_for_invoices(
        self, invoice_ids: Sequence[InvoiceId]
    ) -> Sequence[HistoryEntry]:
        if not invoice_ids:
            return []
        result = await self._conn.execute(
            select(payment_events)
            .where(payment_events.c.invoice_id.in_(list(invoice_ids)))
            .order_by(payment_events.c.invoice_id, payment_events.c.id)
        )
        return [_entry(row) for row in result.mappings()]


def _entry(row: RowMapping) -> HistoryEntry:
    return HistoryEntry(
        id=row["id"],
        invoice_id=InvoiceId(row["invoice_id"]),
        kind=PaymentEventKind(row["kind"]),
        at=row["at"],
        payment_id=PaymentId(row["payment_id"]) if row["payment_id"] else None,
        intent_id=IntentId(row["intent_id"]) if row["intent_id"] else None,
        receipt_id=row["receipt_id"],
        refund_id=row["refund_id"],
        intent_status=(
            IntentStatus(row["intent_status"]) if row["intent_status"] else None
        ),
        actor=row["actor"],
    )
