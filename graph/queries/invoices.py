"""Query resolvers: invoice(s), qpayIntent(s), paymentTotals, paymentMethods."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from functools import partial
from typing import Annotated, TypeAlias, TypeVar

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
from graph.pagination import (
    AFTER_DESCRIPTION,
    FILTER_DESCRIPTION,
    FIRST_DESCRIPTION,
    PAGE_SIZE_NOTE,
    decode_cursor,
)
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

First: TypeAlias = Annotated[int, strawberry.argument(description=FIRST_DESCRIPTION)]
After: TypeAlias = Annotated[
    str | None, strawberry.argument(description=AFTER_DESCRIPTION)
]
PAGE_ERRORS = (
    " A bad argument is a GraphQL error with extensions.code INVALID_INPUT "
    "and extensions.field naming it (first, after, filter.createdFrom)."
)


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
    first: First = DEFAULT_PAGE,
    after: After = None,
    filter: Annotated[  # contract name
        InvoiceFilter | None, strawberry.argument(description=FILTER_DESCRIPTION)
    ] = None,
) -> InvoiceConnection:
    read = partial(queries.page_invoices, uow=info.context.services.uow)
    wanted = filter.to_domain() if filter else ListFilter()
    return InvoiceConnection.from_page(await _read_page(read, first, after, wanted))


async def resolve_qpay_intents(
    info: Info,
    first: First = DEFAULT_PAGE,
    after: After = None,
    filter: Annotated[  # contract name
        QPayIntentFilter | None, strawberry.argument(description=FILTER_DESCRIPTION)
    ] = None,
) -> QPayIntentConnection:
    read = partial(queries.page_intents, uow=info.context.services.uow)
    wanted = filter.to_domain() if filter else ListFilter()
    return QPayIntentConnection.from_page(await _read_page(read, first, after, wanted))


async def resolve_payment_totals(
    info: Info,
    first_day: Annotated[
        date,
        strawberry.argument(
            description="The first day of the period, in the clinic's calendar."
        ),
    ],
    last_day: Annotated[
        date | None,
        strawberry.argument(
            description=(
                "The last day of the period, included; null: firstDay (one day). "
                f"Before firstDay, or a period of more than {MAX_DAYS} days, is a "
                "GraphQL error INVALID_INPUT naming lastDay."
            )
        ),
    ] = None,
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


async def resolve_invoice(
    info: Info,
    id: Annotated[  # contract name
        strawberry.ID, strawberry.argument(description="The invoice's id.")
    ],
) -> Invoice | None:
    try:
        invoice_id = InvoiceId(parse_uuid(id, "id"))
    except DomainError as error:
        raise public_error(error) from None
    found = await queries.get_invoice(invoice_id, uow=info.context.services.uow)
    return Invoice.from_domain(found) if found else None


async def resolve_qpay_intent(
    info: Info,
    id: Annotated[  # contract name
        strawberry.ID, strawberry.argument(description="The intent's id.")
    ],
) -> QPayIntent | None:
    try:
        intent_id = IntentId(parse_uuid(id, "id"))
    except DomainError as error:
        raise public_error(error) from None
    found = await queries.get_intent(intent_id, uow=info.context.services.uow)
    return QPayIntent.from_domain(found) if found else None


async def resolve_payment_methods(info: Info) -> list[PaymentMethodConfig]:
    found = await queries.list_payment_methods(uow=info.context.services.uow)
    return [PaymentMethodConfig.from_domain(config) for config in found]


@strawberry.type(
    description=(
        "Every query needs a staff token (Authorization: Bearer <token>; "
        "without a valid one: a GraphQL error with extensions.code "
        "UNAUTHENTICATED and no data)."
    )
)
class Query:
    invoices: InvoiceConnection = strawberry.field(
        resolver=resolve_invoices,
        description=(
            "Billing invoices, a page at a time, newest first (createdAt, then "
            "id). " + PAGE_SIZE_NOTE + PAGE_ERRORS
        ),
    )
    payment_totals: PaymentTotals = strawberry.field(
        resolver=resolve_payment_totals,
        description=(
            "The day's close: totals by method from midnight starting firstDay to "
            "midnight ending lastDay (default: firstDay) in the clinic's time zone; "
            f"at most {MAX_DAYS} days. Payments count on the day they were "
            "recorded, refunds on the day they completed; MNT only."
        ),
    )
    qpay_intents: QPayIntentConnection = strawberry.field(
        resolver=resolve_qpay_intents,
        name="qpayIntents",
        description=(
            "QPay intents whose QPay invoice exists, a page at a time, newest "
            "first (createdAt, then id). " + PAGE_SIZE_NOTE + PAGE_ERRORS
        ),
    )
    # Declared after the pages, as they have always been printed.
    invoice: Invoice | None = strawberry.field(
        resolver=resolve_invoice,
        description=(
            "One billing invoice; null when no invoice has this id. An id that "
            "is not a UUID is a GraphQL error INVALID_INPUT."
        ),
    )
    qpay_intent: QPayIntent | None = strawberry.field(
        resolver=resolve_qpay_intent,
        description=(
            "One QPay intent; null when no intent has this id or its QPay "
            "invoice was never made. An id that is not a UUID is a GraphQL "
            "error INVALID_INPUT."
        ),
    )
    payment_methods: list[PaymentMethodConfig] = strawberry.field(
        resolver=resolve_payment_methods,
        description=(
            "Every payment method, in the clinic's order, with whether it is "
            "on: offer only the enabled ones."
        ),
    )
