"""Mutation inputs and payloads (names fixed by design.md §3)."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from graph.errors import UserError
from graph.types.enums import EbarimtReceiverType, PaymentMethod
from graph.types.invoice import Invoice, Payment, QPayIntent


@strawberry.input
class CreateInvoiceInput:
    number: str | None = None
    description: str | None = None
    total: Decimal


@strawberry.type
class CreateInvoicePayload:
    invoice: Invoice | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class EbarimtInput:
    receiver_type: EbarimtReceiverType
    receiver: str | None = None


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


@strawberry.type
class QPayIntentPayload:
    intent: QPayIntent | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


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
