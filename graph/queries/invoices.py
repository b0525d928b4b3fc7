"""Query resolvers: invoice(s), qpayIntent(s), paymentTotals, paymentMethods."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from functools import partial
from typing import TypeVar

import strawberry

from domain.errors import DomainError, Subject
from domain.intents import IntentId
from domain.invoices import InvoiceId
from domain.pages import DEFAULT_PAGE, ListFilter, Page, PageRequest, Position
from domain.services import queries
from domain.totals import MAX_DAYS
from graph.context import Info
from graph.errors import FieldPaths, public_error
from graph.ids import parse_uuid
from graph.pagination import PAGE_SIZE_NOTE, decode_cursor
from graph.types.invoice import Invoice, InvoiceConnection, InvoiceFilter
from graph.types.payment import PaymentMethodConfig
from graph.types.qpay_intent import (
    QPayIntent,
    QPayIntentConnection,
    QPayIntentFilter,
)
from graph.types.totals import PaymentTotals

TOTALS_PATHS: FieldPaths = {Subject.PERIOD: "lastDay"}
PAGE_PATHS: FieldPaths = {
    Subject.PAGE_SIZE: "first",
    Subject.PERIOD: "filter.createdFrom",
}


S = TypeVar("S")
T = TypeVar("T")


def _position(after: str | None) -> Position | None:
    return decode_cursor(after, "after") if after is not None else None


async def _read_page(
    read: Callable[[PageRequest, ListFilter[S]], Awaitable[Page[T]]],
    first: int,
    after: str | None,
    wanted: ListFilter[S],
) -> Page[T]:
    """One page through `read`; a bad argument is a typed error naming it."""
    try:
        return await read(PageRequest(first, _position(after)), wanted)
    except DomainError as error:
        raise public_error(error, PAGE_PATHS) from None


async def resolve_invoices(
    info: Info,
    first: int = DEFAULT_PAGE,
    after: str | None = None,
    filter: InvoiceFilter | None = None,  # contract name
) -> InvoiceConnection:
    read = partial(queries.page_invoices, uow=info.context.services.uow)
    wanted = filter.to_domain() if filter else ListFilter()
    return InvoiceConnection.from_page(await _read_page(read, first, after, wanted))


async def resolve_qpay_intents(
    info: Info,
    first: int = DEFAULT_PAGE,
    after: str | None = None,
    filter: QPayIntentFilter | None = None,  # contract name
) -> QPayIntentConnection:
    read = partial(queries.page_intents, uow=info.context.services.uow)
    wanted = filter.to_domain() if filter else ListFilter()
    return QPayIntentConnection.from_page(await _read_page(read, first, after, wanted))


async def resolve_payment_totals(
    info: Info, first_day: date, last_day: date | None = None
) -> PaymentTotals:
    try:
        found = await queries.payment_totals(
            first_day,
            last_day or first_day,
            info.context.services.clinic_time_zone,
            uow=info.context.services.uow,
        )
    except DomainError as error:
        raise public_error(error, TOTALS_PATHS) from None
    return PaymentTotals.from_domain(found)


@strawberry.type
class Query:
    @strawberry.field
    async def invoice(self, info: Info, id: strawberry.ID) -> Invoice | None:
        try:
            invoice_id = InvoiceId(parse_uuid(id, "id"))
        except DomainError as error:
            raise public_error(error) from None
        found = await queries.get_invoice(invoice_id, uow=info.context.services.uow)
        return Invoice.from_domain(found) if found else None

    invoices: InvoiceConnection = strawberry.field(
        resolver=resolve_invoices,
        description="Billing invoices, newest first. " + PAGE_SIZE_NOTE,
    )
    payment_totals: PaymentTotals = strawberry.field(
        resolver=resolve_payment_totals,
        description=(
            "The day's close: totals by method from midnight starting firstDay to "
            "midnight ending lastDay (default: firstDay) in the clinic's time zone; "
            f"at most {MAX_DAYS} days."
        ),
    )
    qpay_intents: QPayIntentConnection = strawberry.field(
        resolver=resolve_qpay_intents,
        name="qpayIntents",
        description=(
            "QPay intents whose QPay invoice exists, newest first. " + PAGE_SIZE_NOTE
        ),
    )

    @strawberry.field
    async def qpay_intent(self, info: Info, id: strawberry.ID) -> QPayIntent | None:
        try:
            intent_id = IntentId(parse_uuid(id, "id"))
        except DomainError as error:
            raise public_error(error) from None
        found = await queries.get_intent(intent_id, uow=info.context.services.uow)
        return QPayIntent.from_domain(found) if found else None

    @strawberry.field
    async def payment_methods(self, info: Info) -> list[PaymentMethodConfig]:
        found = await queries.list_payment_methods(uow=info.context.services.uow)
        return [PaymentMethodConfig.from_domain(config) for config in found]
