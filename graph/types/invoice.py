"""Invoice: a billing invoice, with its payments and QPay intents."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from domain import invoices
from graph.context import Info
from graph.types.enums import InvoiceStatus
from graph.types.payment import Payment
from graph.types.qpay_intent import QPayIntent
from graph.types.visibility import (
    STAFF_ONLY_EMPTY,
    STAFF_ONLY_NULL,
    is_checkout,
    staff_only,
)


@strawberry.type
class Invoice:
    def _description(self, info: Info) -> str | None:
        staff_only(info, "Invoice.description")
        return self._domain.description

    async def _payments(self, info: Info) -> list[Payment]:
        if is_checkout(info):
            return []
        found = await info.context.loaders.payments.load(self._domain.id)
        return [Payment.from_domain(payment) for payment in found]

    async def _qpay_intents(self, info: Info) -> list[QPayIntent]:
        if is_checkout(info):
            return []
        found = await info.context.loaders.intents.load(self._domain.id)
        return [QPayIntent.from_domain(intent) for intent in found]

    id: strawberry.ID
    number: str
    description: str | None = strawberry.field(
        resolver=_description,
        description=(
            "Free text from the clinic (often the patient's name and phone)."
            + STAFF_ONLY_NULL
        ),
    )
    total: Decimal
    paid_amount: Decimal
    balance: Decimal
    status: InvoiceStatus
    created_at: datetime
    updated_at: datetime
    payments: list[Payment] = strawberry.field(
        resolver=_payments,
        description="Every payment recorded on the invoice." + STAFF_ONLY_EMPTY,
    )
    qpay_intents: list[QPayIntent] = strawberry.field(
        resolver=_qpay_intents,
        description="Every QPay intent of the invoice." + STAFF_ONLY_EMPTY,
    )
    _domain: strawberry.Private[invoices.Invoice]

    @classmethod
    def from_domain(cls, invoice: invoices.Invoice) -> Invoice:
        return cls(
            id=strawberry.ID(str(invoice.id)),
            number=invoice.number,
            total=invoice.total,
            paid_amount=invoice.paid_amount,
            balance=invoice.balance,
            status=invoice.status,
            created_at=invoice.created_at,
            updated_at=invoice.updated_at,
            _domain=invoice,
        )
