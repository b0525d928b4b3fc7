"""settleInvoice."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import strawberry

from domain.errors import DomainError, Subject
from domain.intents import IntentId
from domain.invoices import InvoiceId
from domain.payments import PaymentMethod as DomainPaymentMethod
from domain.services.check_qpay_payment import CHECK_WINDOW_SECONDS
from domain.services.settle_invoice import SettleInvoice, settle_invoice
from graph.context import Info, actor_of
from graph.errors import FieldPaths, UserError, user_errors
from graph.ids import parse_uuid
from graph.types.enums import ErrorCode, PaymentMethod, possible_errors
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


# What settleInvoice can answer in `errors` (domain/services/settle_invoice.py).
ERRORS = (
    ErrorCode.INVALID_INPUT,
    ErrorCode.INVALID_AMOUNT,
    ErrorCode.NOT_FOUND,
    ErrorCode.IDEMPOTENCY_CONFLICT,
    ErrorCode.INVOICE_VOID,
    ErrorCode.INVOICE_ALREADY_PAID,
    ErrorCode.METHOD_DISABLED,
    ErrorCode.AMOUNT_EXCEEDS_BALANCE,
    ErrorCode.PAYMENT_NOT_CONFIRMED,
    ErrorCode.QPAY_UNAVAILABLE,
    ErrorCode.QPAY_REJECTED,
)
DESCRIPTION = (
    "Record a payment on a billing invoice. QPAY is never taken on the "
    "client's word: QPay is asked (once paid in full, at most once per "
    f"{CHECK_WINDOW_SECONDS:g} s) and the intent's payment answered; not paid "
    "in full at QPay is PAYMENT_NOT_CONFIRMED; recorded before (by the "
    "callback, the poller, ...) answers that payment with alreadySettled "
    "true. Every other method (money taken at the desk) needs an "
    "idempotencyKey: the same key and input replays the first answer "
    "(alreadySettled true), another input is IDEMPOTENCY_CONFLICT; the amount "
    "may not exceed the balance. Once the invoice is paid in full, its PENDING "
    "intents are cancelled at QPay, so no QR on a screen takes money too."
    + possible_errors(*ERRORS)
)


@strawberry.input(description="A payment to record on a billing invoice.")
class SettleInvoiceInput:
    invoice_id: strawberry.ID = strawberry.field(
        description="The billing invoice paid (its id, a UUID)."
    )
    method: PaymentMethod = strawberry.field(description="How it was paid.")
    amount: Decimal = strawberry.field(
        description=(
            "How much, in MNT, above 0.00: for QPAY exactly the intent's amount "
            "(INVALID_AMOUNT), for other methods at most the balance "
            "(AMOUNT_EXCEEDS_BALANCE)."
        )
    )
    qpay_intent_id: strawberry.ID | None = strawberry.field(
        default=None,
        description=(
            "The QPay intent that was paid: required for QPAY, refused for "
            "other methods (INVALID_INPUT); it must belong to invoiceId."
        ),
    )
    ebarimt: EbarimtInput | None = strawberry.field(
        default=None,
        description=(
            "QPAY only (INVALID_INPUT otherwise): ask for an e-Barimt receipt "
            "when the intent has no request remembered; null: what "
            "createQPayInvoice asked for, if anything."
        ),
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description=(
            "Required for every method but QPAY (INVALID_INPUT when missing), "
            "at most 255 characters; use a new one per payment taken and the "
            "same one to retry it. Ignored for QPAY (QPay's payment id already "
            "makes it safe to repeat)."
        ),
    )


@strawberry.type(description="The answer of settleInvoice.")
class SettleInvoicePayload:
    invoice: Invoice | None = strawberry.field(
        default=None,
        description="The invoice after the payment; null when `errors` is not empty.",
    )
    payment: Payment | None = strawberry.field(
        default=None,
        description=(
            "The payment recorded (QPAY: the intent's first payment); null when "
            "`errors` is not empty."
        ),
    )
    already_settled: bool = strawberry.field(
        default=False,
        description=(
            "True when this call recorded nothing new: the idempotencyKey "
            "replayed, or QPay's payment was recorded before. False on errors."
        ),
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list,
        description=(
            "Why it was refused; empty on success. Nothing is written then, "
            "except money QPay did take (QPAY: a part payment is recorded, the "
            "intent goes to NEEDS_REVIEW, and the answer is PAYMENT_NOT_CONFIRMED)."
            + possible_errors(*ERRORS)
        ),
    )


async def resolve_settle_invoice(
    info: Info,
    input: Annotated[  # contract name
        SettleInvoiceInput,
        strawberry.argument(description="The invoice, method, amount and key."),
    ],
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
