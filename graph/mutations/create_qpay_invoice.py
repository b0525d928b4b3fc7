"""createQPayInvoice."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from domain.errors import DomainError, Subject
from domain.invoices import InvoiceId
from domain.services.create_qpay_invoice import CreateQPayInvoice, create_qpay_invoice
from graph.context import Info, actor_of
from graph.errors import FieldPaths, UserError, user_errors
from graph.ids import parse_uuid
from graph.types.qpay_intent import QPayIntent
from graph.types.receipt import EbarimtInput, ebarimt_request

PATHS: FieldPaths = {
    Subject.INVOICE: "input.invoiceId",
    Subject.AMOUNT: "input.amount",
    Subject.DESCRIPTION: "input.description",
    Subject.EBARIMT: "input.ebarimt",
    Subject.EBARIMT_RECEIVER: "input.ebarimt.receiver",
    # No argument turns QPay on: the whole input is refused.
    Subject.METHOD: "input",
}


@strawberry.input
class CreateQPayInvoiceInput:
    invoice_id: strawberry.ID
    amount: Decimal | None = None
    description: str | None = None
    ebarimt: EbarimtInput | None = None


@strawberry.type
class CreateQPayInvoicePayload:
    intent: QPayIntent | None = None
    client_secret: str | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
    checkout_url: str | None = strawberry.field(
        default=None,
        description="The checkout page for this intent (carries the client secret).",
    )


async def resolve_create_qpay_invoice(
    info: Info,
    input: CreateQPayInvoiceInput,  # contract name
) -> CreateQPayInvoicePayload:
    services = info.context.services
    try:
        command = CreateQPayInvoice(
            invoice_id=InvoiceId(parse_uuid(input.invoice_id, "input.invoiceId")),
            amount=input.amount,
            description=input.description,
            ebarimt=ebarimt_request(input.ebarimt),
            actor=actor_of(info),
        )
        created = await create_qpay_invoice(
            command,
            uow=services.uow,
            gateway=services.gateway,
            clock=services.clock,
            policy=services.qpay_policy,
            changes=services.hub,
        )
    except DomainError as error:
        return CreateQPayInvoicePayload(errors=user_errors(error, PATHS))
    checkout_url = (
        services.checkout_url(created.intent.id, created.client_secret)
        if services.checkout_url is not None
        else None
    )
    return CreateQPayInvoicePayload(
        intent=QPayIntent.from_domain(created.intent),
        client_secret=created.client_secret,
        checkout_url=checkout_url,
    )
