"""Billing invoices and the payments recorded against them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import NewType
from uuid import UUID

from domain.money import CURRENCY, ZERO

InvoiceId = NewType("InvoiceId", UUID)
PaymentId = NewType("PaymentId", UUID)


class PaymentMethod(StrEnum):
    CASH = "CASH"
    CARD = "CARD"
    QPAY = "QPAY"
    BANK_TRANSFER = "BANK_TRANSFER"
    INSURANCE = "INSURANCE"


class InvoiceStatus(StrEnum):
    UNPAID = "UNPAID"
    PARTIALLY_PAID = "PARTIALLY_PAID"
    PAID = "PAID"
    OVERPAID = "OVERPAID"
    VOID = "VOID"


def status_for(total: Decimal, paid: Decimal) -> InvoiceStatus:
    """The status that agrees with the amounts (VOID is set by staff, not here)."""
    if paid <= ZERO:
        return InvoiceStatus.UNPAID
    if paid < total:
        return InvoiceStatus.PARTIALLY_PAID
    if paid == total:
        return InvoiceStatus.PAID
    return InvoiceStatus.OVERPAID


@dataclass(frozen=True, slots=True)
class Invoice:
    id: InvoiceId
    number: str
    description: str | None
    total: Decimal
    paid_amount: Decimal
    status: InvoiceStatus
    created_at: datetime
    updated_at: datetime

    @property
    def balance(self) -> Decimal:
        """What is still owed; zero once paid or overpaid."""
        return max(self.total - self.paid_amount, ZERO)

    @property
    def is_void(self) -> bool:
        return self.status is InvoiceStatus.VOID

    def with_payments(self, amounts: Decimal, now: datetime) -> Invoice:
        """The invoice after `amounts` more was paid; VOID stays VOID."""
        if amounts == ZERO:
            return self
        paid = self.paid_amount + amounts
        status = self.status if self.is_void else status_for(self.total, paid)
        return replace(self, paid_amount=paid, status=status, updated_at=now)


@dataclass(frozen=True, slots=True)
class Payment:
    id: PaymentId
    invoice_id: InvoiceId
    method: PaymentMethod
    amount: Decimal
    created_at: datetime
    qpay_payment_id: str | None = None
    intent_id: UUID | None = None
    # Only CURRENCY (MNT) counts towards the invoice; see domain/settlement.py.
    currency: str = CURRENCY

    @property
    def counts(self) -> bool:
        """True when this payment counts towards its invoice's paid amount."""
        return self.currency == CURRENCY


@dataclass(frozen=True, slots=True)
class PaymentMethodConfig:
    method: PaymentMethod
    enabled: bool
    label: str
