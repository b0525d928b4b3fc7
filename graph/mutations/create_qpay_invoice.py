"""createQPayInvoice."""

from __future__ import annotations

from domain.ebarimt import EbarimtRequest
from domain.errors import DomainError, Subject
from domain.invoices import InvoiceId
from domain.services.create_qpay_invoice import CreateQPayInvoice, create_qpay_invoice
from graph.context import Info
from graph.errors import FieldPaths, user_errors
from graph.ids import parse_uuid
from graph.types.inputs import (
    CreateQPayInvoiceInput,
    CreateQPayInvoicePayload,
    EbarimtInput,
)
from graph.types.invoice import QPayIntent

PATHS: FieldPaths = {
    Subject.INVOICE: "input.invoiceId",
    Subject.AMOUNT: "input.amount",
    Subject.DESCRIPTION: "input.description",
    Subject.EBARIMT: "input.ebarimt",
    Subject.EBARIMT_RECEIVER: "input.ebarimt.receiver",
    # No argument turns QPay on: the whole input is refused.
    Subject.METHOD: "input",
}


def ebarimt_request(value: EbarimtInput | None) -> EbarimtRequest | None:
    if value is None:
        return None
    return EbarimtRequest(receiver_type=value.receiver_type, receiver=value.receiver)


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
        )
        created = await create_qpay_invoice(
            command,
            uow=services.uow,
            gateway=services.gateway,
            clock=services.clock,
            policy=services.qpay_policy,
            changes=services.events,
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
