"""createInvoice."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from domain.errors import DomainError, Subject
from domain.services.create_invoice import CreateInvoice, create_invoice
from graph.context import Info
from graph.errors import FieldPaths, UserError, user_errors
from graph.types.invoice import Invoice

PATHS: FieldPaths = {
    Subject.TOTAL: "input.total",
    Subject.NUMBER: "input.number",
    Subject.DESCRIPTION: "input.description",
    Subject.IDEMPOTENCY_KEY: "input.idempotencyKey",
}


@strawberry.input
class CreateInvoiceInput:
    number: str | None = None
    description: str | None = None
    total: Decimal
    idempotency_key: str | None = strawberry.field(
        default=None,
        description=(
            "Makes the request safe to repeat (a double-click, a retry after a "
            "timeout): the same key with the same input answers the invoice the "
            "first request made; with another input, IDEMPOTENCY_CONFLICT."
        ),
    )


@strawberry.type
class CreateInvoicePayload:
    invoice: Invoice | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


async def resolve_create_invoice(
    info: Info,
    input: CreateInvoiceInput,  # contract name
) -> CreateInvoicePayload:
    services = info.context.services
    command = CreateInvoice(
        total=input.total,
        number=input.number,
        description=input.description,
        idempotency_key=input.idempotency_key,
    )
    try:
        invoice = await create_invoice(command, uow=services.uow, clock=services.clock)
    except DomainError as error:
        return CreateInvoicePayload(errors=user_errors(error, PATHS))
    return CreateInvoicePayload(invoice=Invoice.from_domain(invoice))
