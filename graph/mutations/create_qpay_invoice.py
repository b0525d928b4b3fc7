"""createQPayInvoice."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import strawberry

from domain.errors import DomainError, Subject
from domain.invoices import InvoiceId
from domain.services.create_qpay_invoice import CreateQPayInvoice, create_qpay_invoice
from graph.context import Info, actor_of
from graph.errors import FieldPaths, UserError, user_errors
from graph.ids import parse_uuid
from graph.types.enums import ErrorCode, possible_errors
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


# What createQPayInvoice can answer in `errors`
# (domain/services/create_qpay_invoice.py).
ERRORS = (
    ErrorCode.INVALID_INPUT,
    ErrorCode.INVALID_AMOUNT,
    ErrorCode.NOT_FOUND,
    ErrorCode.INVOICE_VOID,
    ErrorCode.INVOICE_ALREADY_PAID,
    ErrorCode.AMOUNT_EXCEEDS_BALANCE,
    ErrorCode.METHOD_DISABLED,
    ErrorCode.QPAY_UNAVAILABLE,
    ErrorCode.QPAY_REJECTED,
)
DESCRIPTION = (
    "Make a QPay invoice (QR code and bank-app deeplinks) for a billing "
    "invoice, and a clientSecret for its checkout screen. While a PENDING "
    "intent for the same invoice and amount is more than a minute from expiry, "
    "it is answered again (with a new clientSecret; earlier ones stay valid) "
    "and no second QPay invoice is made; concurrent calls make one. The intent "
    "is stored before it is answered. Never retried at QPay: a timeout or "
    "QPay server error is QPAY_UNAVAILABLE, and calling again makes a new "
    "QPay invoice (new senderInvoiceNo)." + possible_errors(*ERRORS)
)


@strawberry.input(description="A QPay invoice to make for a billing invoice.")
class CreateQPayInvoiceInput:
    invoice_id: strawberry.ID = strawberry.field(
        description="The billing invoice to pay (its id, a UUID)."
    )
    amount: Decimal | None = strawberry.field(
        default=None,
        description=(
            "How much the QR code asks, in MNT: above 0.00, at most the "
            "invoice's balance (AMOUNT_EXCEEDS_BALANCE); null: the whole balance."
        ),
    )
    description: str | None = strawberry.field(
        default=None,
        description=(
            "The text QPay shows the payer (at most 255 characters); null: "
            '"M Dent invoice <number>". Ignored when a PENDING intent is reused.'
        ),
    )
    ebarimt: EbarimtInput | None = strawberry.field(
        default=None,
        description=(
            "Ask for an e-Barimt receipt, issued once the payment is recorded; "
            "null: none (a reused intent keeps the one it remembers; one given "
            "here replaces it)."
        ),
    )


@strawberry.type(description="The answer of createQPayInvoice.")
class CreateQPayInvoicePayload:
    intent: QPayIntent | None = strawberry.field(
        default=None,
        description=(
            "The PENDING intent with its QR code and deeplinks; null when "
            "`errors` is not empty."
        ),
    )
    client_secret: str | None = strawberry.field(
        default=None,
        description=(
            "The secret a checkout screen passes to paymentStatus (as "
            "clientSecret) to watch this one intent without a staff token: 43 "
            "URL-safe characters, shown once (only its hash is stored). Hand it "
            "to the checkout screen only; null when `errors` is not empty."
        ),
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list,
        description=(
            "Why it was refused; empty on success." + possible_errors(*ERRORS)
        ),
    )
    checkout_url: str | None = strawberry.field(
        default=None,
        description=(
            "The service's own checkout page for this intent (QR, deeplinks, "
            "live status): PUBLIC_BASE_URL/checkout/<intent id>?secret="
            "<clientSecret>, so it carries the secret; null when `errors` is "
            "not empty."
        ),
    )


async def resolve_create_qpay_invoice(
    info: Info,
    input: Annotated[  # contract name
        CreateQPayInvoiceInput,
        strawberry.argument(description="The billing invoice, amount and receipt."),
    ],
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
