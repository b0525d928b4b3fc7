"""Invoice, Payment, EbarimtReceipt and QPayIntent object types."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from domain import ebarimt, intents, invoices
from domain.gateway import Deeplink
from domain.invoices import InvoiceId
from graph.context import Info
from graph.types.enums import (
    EbarimtReceiverType,
    EbarimtStatus,
    InvoiceStatus,
    PaymentMethod,
    QPayEnvironment,
    QPayIntentStatus,
)


@strawberry.type
class EbarimtReceipt:
    id: strawberry.ID
    status: EbarimtStatus
    receiver_type: EbarimtReceiverType
    receiver: str | None
    lottery: str | None
    qr_data: str | None
    last_error: str | None
    created_at: datetime

    @classmethod
    def from_domain(cls, receipt: ebarimt.EbarimtReceipt) -> EbarimtReceipt:
        return cls(
            id=strawberry.ID(str(receipt.id)),
            status=receipt.status,
            receiver_type=receipt.receiver_type,
            receiver=receipt.receiver,
            lottery=receipt.lottery,
            qr_data=receipt.qr_data,
            last_error=receipt.last_error,
            created_at=receipt.created_at,
        )


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
        receipt = await info.context.receipts_loader().load(self._domain.id)
        return EbarimtReceipt.from_domain(receipt) if receipt else None

    created_at: datetime
    _domain: strawberry.Private[invoices.Payment]

    @classmethod
    def from_domain(cls, payment: invoices.Payment) -> Payment:
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
class QPayDeeplink:
    name: str
    description: str | None
    logo: str | None
    link: str

    @classmethod
    def from_domain(cls, link: Deeplink) -> QPayDeeplink:
        return cls(
            name=link.name, description=link.description, logo=link.logo, link=link.link
        )


@strawberry.type
class QPayIntent:
    id: strawberry.ID
    invoice_id: strawberry.ID
    environment: QPayEnvironment
    amount: Decimal
    paid_amount: Decimal
    status: QPayIntentStatus
    qpay_invoice_id: str
    sender_invoice_no: str
    qr_text: str
    qr_image: str
    short_url: str | None
    deeplinks: list[QPayDeeplink]
    qpay_payment_id: str | None

    @strawberry.field
    async def payment(self, info: Info) -> Payment | None:
        found = await info.context.payments_loader().load(self._domain.invoice_id)
        mine = [p for p in found if p.intent_id == self._domain.id]
        return Payment.from_domain(mine[0]) if mine else None

    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    _domain: strawberry.Private[intents.QPayIntent]

    @classmethod
    def from_domain(cls, intent: intents.QPayIntent) -> QPayIntent:
        return cls(
            id=strawberry.ID(str(intent.id)),
            invoice_id=strawberry.ID(str(intent.invoice_id)),
            environment=intent.environment,
            amount=intent.amount,
            paid_amount=intent.paid_amount,
            status=intent.status,
            qpay_invoice_id=intent.qpay_invoice_id or "",
            sender_invoice_no=intent.sender_invoice_no,
            qr_text=intent.qr_text,
            qr_image=intent.qr_image,
            short_url=intent.short_url,
            deeplinks=[QPayDeeplink.from_domain(link) for link in intent.deeplinks],
            qpay_payment_id=intent.qpay_payment_id,
            expires_at=intent.expires_at,
            created_at=intent.created_at,
            updated_at=intent.updated_at,
            _domain=intent,
        )


@strawberry.type
class Invoice:
    id: strawberry.ID
    number: str
    description: str | None
    total: Decimal
    paid_amount: Decimal
    balance: Decimal
    status: InvoiceStatus

    @strawberry.field
    async def payments(self, info: Info) -> list[Payment]:
        found = await info.context.payments_loader().load(self._invoice_id)
        return [Payment.from_domain(payment) for payment in found]

    @strawberry.field
    async def qpay_intents(self, info: Info) -> list[QPayIntent]:
        found = await info.context.intents_loader().load(self._invoice_id)
        return [QPayIntent.from_domain(intent) for intent in found]

    created_at: datetime
    updated_at: datetime
    _invoice_id: strawberry.Private[InvoiceId]

    @classmethod
    def from_domain(cls, invoice: invoices.Invoice) -> Invoice:
        return cls(
            id=strawberry.ID(str(invoice.id)),
            number=invoice.number,
            description=invoice.description,
            total=invoice.total,
            paid_amount=invoice.paid_amount,
            balance=invoice.balance,
            status=invoice.status,
            created_at=invoice.created_at,
            updated_at=invoice.updated_at,
            _invoice_id=invoice.id,
        )


@strawberry.type
class PaymentMethodConfig:
    method: PaymentMethod
    enabled: bool
    label: str

    @classmethod
    def from_domain(cls, config: invoices.PaymentMethodConfig) -> PaymentMethodConfig:
        return cls(method=config.method, enabled=config.enabled, label=config.label)
