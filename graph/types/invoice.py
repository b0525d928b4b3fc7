"""Invoice, Payment, EbarimtReceipt and QPayIntent object types.

Who sees what (design.md §3, "Auth"). Queries and mutations never run without
a staff viewer (graph/auth.py), so a context without one is a checkout screen:
a paymentStatus subscription authorized by its intent's client secret. Such a
viewer reaches these types only through PaymentStatusEvent: its own intent
(`intent`, and from it that intent's payment and receipt) and the invoice. It
may read every field except these (checked field by field in
tests/security/test_checkout_view.py):

| field                    | checkout screen gets         | why                        |
|--------------------------|------------------------------|----------------------------|
| Invoice.description      | null + FORBIDDEN error       | patient's name and phone   |
| Invoice.payments         | [] (no error: see below)     | other payers' payments     |
| Invoice.qpayIntents      | [] (no error: see below)     | other intents' payable QRs |
| EbarimtReceipt.receiver  | null + FORBIDDEN error       | register number or TIN     |
| EbarimtReceipt.lastError | null + FORBIDDEN error       | staff diagnostics          |

Allowed: Invoice id, number, total, paidAmount, balance, status, createdAt,
updatedAt; every QPayIntent field (status, amounts, QR text and image,
shortUrl, deeplinks, QPay ids, times) and its `payment` (the intent's own;
the page shows its receipt); every Payment field; EbarimtReceipt id, status,
receiverType, lottery, qrData and createdAt (the page shows the lottery
number and the receipt QR).

A refused nullable field raises PublicError FORBIDDEN: the field is null, the
error names it (path included), and the rest of the event still arrives. The
two lists are non-null all the way up to `paymentStatus`, where an error would
null the whole event, so they are quietly empty instead (said in their
descriptions).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from domain import ebarimt, intents, invoices
from domain.errors import ErrorCode
from domain.gateway import Deeplink
from graph.context import Info
from graph.errors import PublicError
from graph.types.enums import (
    EbarimtReceiverType,
    EbarimtStatus,
    InvoiceStatus,
    PaymentMethod,
    QPayEnvironment,
    QPayIntentStatus,
)

STAFF_ONLY_EMPTY = (
    " Staff only: always empty for a checkout screen (subscribed with a client "
    "secret, no staff token)."
)
STAFF_ONLY_NULL = (
    " Staff only: a checkout screen (subscribed with a client secret, no staff "
    "token) gets null and a FORBIDDEN error."
)


def is_checkout(info: Info) -> bool:
    """True for a checkout screen: no staff viewer (see the module docstring)."""
    return info.context.viewer is None


def staff_only(info: Info, field: str) -> None:
    """Refuse a nullable field to a checkout screen (null plus a coded error)."""
    if is_checkout(info):
        raise PublicError(
            f"{field} is for staff only; a client secret cannot read it",
            ErrorCode.FORBIDDEN.value,
        )


@strawberry.type
class EbarimtReceipt:
    def _receiver(self, info: Info) -> str | None:
        staff_only(info, "EbarimtReceipt.receiver")
        return self._domain.receiver

    def _last_error(self, info: Info) -> str | None:
        staff_only(info, "EbarimtReceipt.lastError")
        return self._domain.last_error

    id: strawberry.ID
    status: EbarimtStatus
    receiver_type: EbarimtReceiverType
    receiver: str | None = strawberry.field(
        resolver=_receiver,
        description=(
            "Who the receipt is made out to (a citizen's or a company's identifier)."
            + STAFF_ONLY_NULL
        ),
    )
    lottery: str | None
    qr_data: str | None
    last_error: str | None = strawberry.field(
        resolver=_last_error,
        description="Why the last try to issue the receipt failed." + STAFF_ONLY_NULL,
    )
    created_at: datetime
    _domain: strawberry.Private[ebarimt.EbarimtReceipt]

    @classmethod
    def from_domain(cls, receipt: ebarimt.EbarimtReceipt) -> EbarimtReceipt:
        return cls(
            id=strawberry.ID(str(receipt.id)),
            status=receipt.status,
            receiver_type=receipt.receiver_type,
            lottery=receipt.lottery,
            qr_data=receipt.qr_data,
            created_at=receipt.created_at,
            _domain=receipt,
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
        # This intent's own payment only, for a checkout screen too.
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
    def _description(self, info: Info) -> str | None:
        staff_only(info, "Invoice.description")
        return self._domain.description

    async def _payments(self, info: Info) -> list[Payment]:
        if is_checkout(info):
            return []
        found = await info.context.payments_loader().load(self._domain.id)
        return [Payment.from_domain(payment) for payment in found]

    async def _qpay_intents(self, info: Info) -> list[QPayIntent]:
        if is_checkout(info):
            return []
        found = await info.context.intents_loader().load(self._domain.id)
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


@strawberry.type
class PaymentMethodConfig:
    method: PaymentMethod
    enabled: bool
    label: str

    @classmethod
    def from_domain(cls, config: invoices.PaymentMethodConfig) -> PaymentMethodConfig:
        return cls(method=config.method, enabled=config.enabled, label=config.label)
