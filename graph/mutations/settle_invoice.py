"""settleInvoice."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from domain.errors import DomainError, Subject
from domain.intents import IntentId
from domain.invoices import InvoiceId
from domain.payments import PaymentMethod as DomainPaymentMethod
from domain.services.settle_invoice import SettleInvoice, settle_invoice
from graph.context import Info, actor_of
from graph.errors import FieldPaths, UserError, user_errors
from graph.ids import parse_uuid
from graph.types.enums import PaymentMethod
from graph.types.invoice import Invoice
from graph.types.payment import Payment
from graph.types.receipt import EbarimtInput, ebarimt_request

PATHS: FieldPaths = {
    Subject.INVOICE: "input.invoiceId",
    Subject.AMOUNT: "input.amount",
    Subject.METHOD: "input.method",
    Subject.INTENT: "input.qpayIntentId",
    Subject.EBARIMT: "input.ebarimt",
    Subject.EBARIMT_RECEIVER: "input.ebarimt.receiver",
    Subject.IDEMPOTENCY_KEY: "input.idempotencyKey",
}


@strawberry.input
class SettleInvoiceInput:
    invoice_id: strawberry.ID
    method: PaymentMethod
    amount: Decimal
    qpay_intent_id: strawberry.ID | None = None
    ebarimt: EbarimtInput | None = None
    idempotency_key: str | None = None


@strawberry.type
class SettleInvoicePayload:
    invoice: Invoice | None = None
    payment: Payment | None = None
    already_settled: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


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
            actor=actor_of(info),
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
