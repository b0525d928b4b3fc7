"""Payment, and PaymentMethodConfig: how the clinic takes money."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from domain import payments
from domain.refunds import refundable
from graph.context import Info
from graph.types.enums import PaymentMethod
from graph.types.receipt import EbarimtReceipt
from graph.types.refund import Refund
from graph.types.visibility import (
    STAFF_ONLY_EMPTY,
    STAFF_ONLY_NULL,
    is_checkout,
    staff_only,
)


@strawberry.type(
    description=(
        "Money recorded against a billing invoice, by any method. A QPay "
        "payment is recorded once per QPay payment id, whatever told the "
        "service about it (callback, poller, checkQPayPayment, ledger sweep)."
    )
)
class Payment:
    id: strawberry.ID = strawberry.field(description="The payment's id (a UUID).")
    invoice_id: strawberry.ID = strawberry.field(
        description="The id of the billing invoice it pays."
    )
    method: PaymentMethod = strawberry.field(description="How it was paid.")
    amount: Decimal = strawberry.field(
        description=(
            "How much was paid, in `currency` (MNT for every counted payment); "
            "refunds do not change it (see refundableAmount)."
        )
    )
    currency: str = strawberry.field(
        description=(
            "ISO 4217 code of `amount`. Only MNT payments count towards the "
            "invoice; money QPay took in another currency is recorded for review."
        )
    )
    qpay_payment_id: str | None = strawberry.field(
        description=(
            "QPay's payment_id, for a QPAY payment (unique: a QPay payment is "
            "recorded once); null for every other method."
        )
    )

    async def _ebarimt(self, info: Info) -> EbarimtReceipt | None:
        receipt = await info.context.loaders.receipts.load(self._domain.id)
        return EbarimtReceipt.from_domain(receipt) if receipt else None

    async def _refunds(self, info: Info) -> list[Refund]:
        if is_checkout(info):
            return []
        found = await info.context.loaders.refunds.load(self._domain.id)
        return [Refund.from_domain(refund) for refund in found]

    async def _refundable_amount(self, info: Info) -> Decimal | None:
        staff_only(info, "Payment.refundableAmount")
        found = await info.context.loaders.refunds.load(self._domain.id)
        return refundable(self._domain, found)

    refunds: list[Refund] = strawberry.field(
        resolver=_refunds,
        description="Money given back on this payment, oldest first."
        + STAFF_ONLY_EMPTY,
    )
    refundable_amount: Decimal | None = strawberry.field(
        resolver=_refundable_amount,
        description=(
            "What is left of the payment to refund: its amount less every "
            "refund that is not FAILED (PENDING ones hold their amount)."
            + STAFF_ONLY_NULL
        ),
    )

    created_at: datetime = strawberry.field(
        description="When the payment was recorded here (not when QPay took it)."
    )
    _domain: strawberry.Private[payments.Payment]
    ebarimt: EbarimtReceipt | None = strawberry.field(
        resolver=_ebarimt,
        description=(
            "The payment's e-Barimt receipt; null when none was asked for (the "
            "`ebarimt` input of createQPayInvoice or settleInvoice, QPay "
            "payments only) or the payment does not count (another currency)."
        ),
    )

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


@strawberry.type(description="A payment method the clinic takes, and whether it is on.")
class PaymentMethodConfig:
    method: PaymentMethod = strawberry.field(
        description="The payment method this row configures."
    )
    enabled: bool = strawberry.field(
        description=(
            "False: createQPayInvoice (QPAY) and settleInvoice refuse it with "
            "METHOD_DISABLED; hide or grey it out."
        )
    )
    label: str = strawberry.field(
        description=(
            'The name to show, as the clinic set it (e.g. "Бэлэн мөнгө / Cash").'
        )
    )

    @classmethod
    def from_domain(cls, config: payments.PaymentMethodConfig) -> PaymentMethodConfig:
        return cls(method=config.method, enabled=config.enabled, label=config.label)
