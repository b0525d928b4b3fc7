"""createInvoice."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import strawberry

from domain.errors import DomainError, Subject
from domain.services.create_invoice import CreateInvoice, create_invoice
from graph.context import Info
from graph.errors import FieldPaths, UserError, user_errors
from graph.types.enums import ErrorCode, possible_errors
from graph.types.invoice import Invoice

PATHS: FieldPaths = {
    Subject.TOTAL: "input.total",
    Subject.NUMBER: "input.number",
    Subject.DESCRIPTION: "input.description",
    Subject.IDEMPOTENCY_KEY: "input.idempotencyKey",
}


# What createInvoice can answer in `errors` (domain/services/create_invoice.py).
ERRORS = (
    ErrorCode.INVALID_AMOUNT,
    ErrorCode.INVALID_INPUT,
    ErrorCode.IDEMPOTENCY_CONFLICT,
)
DESCRIPTION = (
    "Create a billing invoice, UNPAID, for `total` MNT. With an "
    "idempotencyKey a repeated request answers the first one's invoice."
    + possible_errors(*ERRORS)
)


@strawberry.input(description="A new billing invoice.")
class CreateInvoiceInput:
    number: str | None = strawberry.field(
        default=None,
        description=(
            "The clinic's invoice number, unique, at most 64 characters; null: "
            "the next INV-000123 number. One already used is INVALID_INPUT."
        ),
    )
    description: str | None = strawberry.field(
        default=None,
        description=(
            "Free text for staff (e.g. the patient and the treatment), at most "
            "1000 characters; never shown to a checkout screen. Null: none."
        ),
    )
    total: Decimal = strawberry.field(
        description="What is billed, in MNT: above 0.00, at most 2 decimals."
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description=(
            "Makes the request safe to repeat (a double-click, a retry after a "
            "timeout): the same key with the same input answers the invoice the "
            "first request made; with another input, IDEMPOTENCY_CONFLICT. At "
            "most 255 characters; null: every request makes an invoice."
        ),
    )


@strawberry.type(description="The answer of createInvoice.")
class CreateInvoicePayload:
    invoice: Invoice | None = strawberry.field(
        default=None,
        description=(
            "The invoice made (or, for a repeated idempotencyKey, the one the "
            "first request made); null when `errors` is not empty."
        ),
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list,
        description=(
            "Why it was refused (nothing written); empty on success."
            + possible_errors(*ERRORS)
        ),
    )


async def resolve_create_invoice(
    info: Info,
    input: Annotated[  # contract name
        CreateInvoiceInput, strawberry.argument(description="The invoice to create.")
    ],
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
