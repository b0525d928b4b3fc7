"""Read use cases behind the GraphQL queries and field loaders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.ebarimt import EbarimtReceipt
from domain.history import HistoryEntry
from domain.intents import IntentId, IntentStatus, QPayIntent
from domain.invoices import Invoice, InvoiceId, InvoiceStatus
from domain.pages import ListFilter, Page, PageRequest, check_request, page_of
from domain.payments import Payment, PaymentId, PaymentMethodConfig
from domain.ports import UnitOfWorkFactory
from domain.refunds import Refund
from domain.totals import PeriodTotals, period_of, totals_of


async def get_invoice(
    invoice_id: InvoiceId, *, uow: UnitOfWorkFactory
) -> Invoice | None:
    async with uow() as tx:
        return await tx.invoices.get(invoice_id)


async def page_invoices(
    request: PageRequest,
    wanted: ListFilter[InvoiceStatus],
    *,
    uow: UnitOfWorkFactory,
) -> Page[Invoice]:
    """A page of billing invoices, newest first, in one statement."""
    check_request(request, wanted)
    async with uow() as tx:
        rows = await tx.invoices.page(wanted, request.size + 1, request.after)
    return page_of(rows, request)


async def page_intents(
    request: PageRequest,
    wanted: ListFilter[IntentStatus],
    *,
    uow: UnitOfWorkFactory,
) -> Page[QPayIntent]:
    """A page of intents whose QPay invoice exists, newest first."""
    check_request(request, wanted)
    async with uow() as tx:
        rows = await tx.intents.page(wanted, request.size + 1, request.after)
    return page_of(rows, request)


async def get_intent(
    intent_id: IntentId, *, uow: UnitOfWorkFactory
) -> QPayIntent | None:
    """The intent, or None when unknown or its QPay invoice was never made."""
    async with uow() as tx:
        intent = await tx.intents.get(intent_id)
    return intent if intent is not None and intent.is_created else None


async def list_payment_methods(
    *, uow: UnitOfWorkFactory
) -> Sequence[PaymentMethodConfig]:
    async with uow() as tx:
        return await tx.methods.list()


async def payments_by_invoice(
    invoice_ids: Sequence[InvoiceId], *, uow: UnitOfWorkFactory
) -> list[list[Payment]]:
    async with uow() as tx:
        found = await tx.payments.list_for_invoices(invoice_ids)
    return [[p for p in found if p.invoice_id == i] for i in invoice_ids]


async def intents_by_invoice(
    invoice_ids: Sequence[InvoiceId], *, uow: UnitOfWorkFactory
) -> list[list[QPayIntent]]:
    async with uow() as tx:
        found = await tx.intents.list_for_invoices(invoice_ids)
    return [[intent for intent in found if intent.invoice_id == i] for i in invoice_ids]


async def receipts_by_payment(
    payment_ids: Sequence[UUID], *, uow: UnitOfWorkFactory
) -> list[EbarimtReceipt | None]:
    async with uow() as tx:
        found = {
            r.payment_id: r for r in await tx.receipts.list_for_payments(payment_ids)
        }
    return [found.get(payment_id) for payment_id in payment_ids]  # type: ignore[call-overload]  # PaymentId is a UUID


async def history_by_invoice(
    invoice_ids: Sequence[InvoiceId], *, uow: UnitOfWorkFactory
) -> list[list[HistoryEntry]]:
    """Each invoice's history, oldest first (one statement for all of them)."""
    async with uow() as tx:
        found = await tx.history.list_for_invoices(invoice_ids)
    return [[e for e in found if e.invoice_id == i] for i in invoice_ids]


async def payment_totals(
    first_day: date,
    last_day: date,
    time_zone: str,
    *,
    uow: UnitOfWorkFactory,
) -> PeriodTotals:
    """The close of [first_day, last_day] in `time_zone`: payments and
    refunds, one statement each."""
    zone = ZoneInfo(time_zone)
    start, end = period_of(first_day, last_day, zone)
    async with uow() as tx:
        paid = await tx.payments.totals_by_method(start, end)
        refunded = await tx.refunds.totals_by_method(start, end)
    return totals_of(first_day, last_day, zone, start, end, dict(paid), dict(refunded))


async def refunds_by_payment(
    payment_ids: Sequence[PaymentId], *, uow: UnitOfWorkFactory
) -> list[list[Refund]]:
    """Each payment's refunds, oldest first (one statement for all)."""
    async with uow() as tx:
        found = await tx.refunds.list_for_payments(payment_ids)
    return [[r for r in found if r.payment_id == p] for p in payment_ids]
