"""Billing invoices: what the clinic bills, and what of it is paid."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import NewType
from uuid import UUID

from domain.money import ZERO

InvoiceId = NewType("InvoiceId", UUID)


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
