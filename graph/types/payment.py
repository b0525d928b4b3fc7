"""Payment, and PaymentMethodConfig: how the clinic takes money."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from domain import payments
from graph.context import Info
from graph.types.enums import PaymentMethod
from graph.types.receipt import EbarimtReceipt


@strawberry.type
class Payment:
    id: strawberry.ID
    invoice_id: strawberry.ID
    method: PaymentMethod
    amount: Decimal
    currency: str = strawberry.field(
        description=(
            "ISO 4217 code of `amount`. Only MNT payments count towards the "
            "invoice; money QPay took in another currency is recorded for review."
        )
    )
    qpay_payment_id: str | None

    @strawberry.field
    async def ebarimt(self, info: Info) -> EbarimtReceipt | None:
        receipt = await info.context.loaders.receipts.load(self._domain.id)
        return EbarimtReceipt.from_domain(receipt) if receipt else None

    created_at: datetime
    _domain: strawberry.Private[payments.Payment]

    @classmethod
    def from_domain(cls, payment: payments.Payment) -> Payment:
        return cls(
            id=strawberry.ID(str(payment.id)),
            invoice_id=strawberry.ID(str(payment.invoice_id)),
            method=payment.method,
            amount=payment.amount,
            currency=payment.currency,
            qpay_payment_id=payment.qpay_payment_id,
            created_at=payment.created_at,
            _domain=payment,
        )


@strawberry.type
class PaymentMethodConfig:
    method: PaymentMethod
    enabled: bool
    label: str

    @classmethod
    def from_domain(cls, config: payments.PaymentMethodConfig) -> PaymentMethodConfig:
        return cls(method=config.method, enabled=config.enabled, label=config.label)
