"""settleInvoice."""

from __future__ import annotations

from domain.errors import DomainError, Subject
from domain.intents import IntentId
from domain.invoices import InvoiceId
from domain.invoices import PaymentMethod as DomainPaymentMethod
from domain.services.settle_invoice import SettleInvoice, settle_invoice
from graph.context import Info
from graph.errors import FieldPaths, user_errors
from graph.ids import parse_uuid
from graph.mutations.create_qpay_invoice import ebarimt_request
from graph.types.inputs import SettleInvoiceInput, SettleInvoicePayload
from graph.types.invoice import Invoice, Payment

PATHS: FieldPaths = {
    Subject.INVOICE: "input.invoiceId",
    Subject.AMOUNT: "input.amount",
    Subject.METHOD: "input.method",
    Subject.INTENT: "input.qpayIntentId",
    Subject.EBARIMT: "input.ebarimt",
    Subject.EBARIMT_RECEIVER: "input.ebarimt.receiver",
    Subject.IDEMPOTENCY_KEY: "input.idempotencyKey",
}


async def resolve_settle_invoice(
    info: Info,
    input: SettleInvoiceInput,  # contract name
) -> SettleInvoicePayload:
    services = info.context.services
    try:
        command = SettleInvoice(
            invoice_id=InvoiceId(parse_uuid(input.invoice_id, "input.invoiceId")),
            method=DomainPaymentMethod(input.method.value),
            amount=input.amount,
            qpay_intent_id=(
                IntentId(parse_uuid(input.qpay_intent_id, "input.qpayIntentId"))
                if input.qpay_intent_id is not None
                else None
            ),
            ebarimt=ebarimt_request(input.ebarimt),
            idempotency_key=input.idempotency_key,
        )
        result = await settle_invoice(
            command, uow=services.uow, gateway=services.gateway, clock=services.clock
        )
    except DomainError as error:
        return SettleInvoicePayload(errors=user_errors(error, PATHS))
    return SettleInvoicePayload(
        invoice=Invoice.from_domain(result.invoice),
        payment=Payment.from_domain(result.payment) if result.payment else None,
        already_settled=result.already_settled,
    )
