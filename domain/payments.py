"""Payments: money recorded against a billing invoice, by any method."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import NewType
from uuid import UUID

from domain.invoices import InvoiceId
from domain.money import CURRENCY

PaymentId = NewType("PaymentId", UUID)


class PaymentMethod(StrEnum):
    CASH = "CASH"
    CARD = "CARD"
    QPAY = "QPAY"
    BANK_TRANSFER = "BANK_TRANSFER"
    INSURANCE = "INSURANCE"


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
