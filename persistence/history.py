"""The invoices' history (payment_events): written at commit from the domain
events a transaction recorded, read per invoice."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import RowMapping, bindparam, func, literal, null, select
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
from persistence.sql import Pending, intents, payment_events, payments, refunds

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


def _entry_source(kind: type[DomainEvent], n: int) -> Any:
    """A SELECT of the history row of the `n`th event, of type `kind`, with
    its values as bind parameters named e<n>_...: the invoice is read from
    the row the event is about (written earlier in the same transaction)."""

    def value(name: str, type_: Any) -> Any:
        return bindparam(f"e{n}_{name}", type_=type_)

    uuid, status = payments.c.id.type, intents.c.status.type
    actor = value("actor", payment_events.c.actor.type)
    if kind is PaymentRecorded:
        return select(
            payments.c.invoice_id,
            literal(PaymentEventKind.PAYMENT_RECORDED.value),
            payments.c.id,
            payments.c.intent_id,
            null().cast(uuid),
            null().cast(uuid),
            null().cast(status),
            actor,
        ).where(payments.c.id == value("payment_id", uuid))
    if kind is IntentChanged:
        return select(
            intents.c.invoice_id,
            literal(PaymentEventKind.INTENT_CHANGED.value),
            null().cast(uuid),
            intents.c.id,
            null().cast(uuid),
            null().cast(uuid),
            value("status", status),
            actor,
        ).where(intents.c.id == value("intent_id", uuid))
    if kind is RefundRecorded:
        return select(
            refunds.c.invoice_id,
            literal(PaymentEventKind.REFUND_RECORDED.value),
            refunds.c.payment_id,
            refunds.c.intent_id,
            null().cast(uuid),
            refunds.c.id,
            null().cast(status),
            actor,
        ).where(refunds.c.id == value("refund_id", uuid))
    assert kind is ReceiptChanged  # noqa: S101  # the union is closed
    return select(
        intents.c.invoice_id,
        literal(PaymentEventKind.RECEIPT_CHANGED.value),
        value("payment_id", uuid),
        intents.c.id,
        value("receipt_id", uuid),
        null().cast(uuid),
        null().cast(status),
        actor,
    ).where(intents.c.id == value("intent_id", uuid))


@functools.lru_cache(maxsize=256)
def _insert(kinds: tuple[type[DomainEvent], ...]) -> Any:
    """The INSERT of a transaction's events of these types, in this order:
    built once per sequence of types (a settlement's is always the same few),
    since building it cost more CPU than running it."""
    sources = [_entry_source(kind, n) for n, kind in enumerate(kinds)]
    # A method call on the first (mypy 2.4 crashes on union_all(*sources)).
    source = sources[0] if len(sources) == 1 else sources[0].union_all(*sources[1:])
    return payment_events.insert().from_select(list(_COLUMNS), source)


def _parameters(event: DomainEvent, n: int) -> dict[str, Any]:
    values: dict[str, Any] = {"actor": event.actor}
    if isinstance(event, PaymentRecorded):
        values["payment_id"] = event.payment_id
    elif isinstance(event, IntentChanged):
        values |= {"intent_id": event.intent_id, "status": event.status.value}
    elif isinstance(event, RefundRecorded):
        values["refund_id"] = event.refund_id
    else:
        values |= {
            "payment_id": event.payment_id,
            "intent_id": event.intent_id,
            "receipt_id": event.receipt_id,
        }
    return {f"e{n}_{name}": value for name, value in values.items()}


def entries(events: Sequence[DomainEvent]) -> Pending | None:
    """One INSERT for every event of the transaction, in their order, not
    sent yet (the unit of work sends it with the notification); None for no
    events."""
    if not events:
        return None
    parameters: dict[str, Any] = {}
    for n, event in enumerate(events):
        parameters |= _parameters(event, n)
    return _insert(tuple(type(event) for event in events)), parameters


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
