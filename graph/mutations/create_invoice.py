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
}


@strawberry.input
class CreateInvoiceInput:
    number: str | None = None
    description: str | None = None
    total: Decimal


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
        total=input.total, number=input.number, description=input.description
    )
    try:
        invoice = await create_invoice(command, uow=services.uow, clock=services.clock)
    except DomainError as error:
        return CreateInvoicePayload(errors=user_errors(error, PATHS))
    return CreateInvoicePayload(invoice=Invoice.from_domain(invoice))
