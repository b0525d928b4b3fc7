"""What happened, in the past tense. Returned by decisions, never raised."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from domain.intents import IntentId, IntentStatus
from domain.invoices import InvoiceId, PaymentId


@dataclass(frozen=True, slots=True)
class PaymentRecorded:
    payment_id: PaymentId
    invoice_id: InvoiceId
    amount: Decimal
    qpay_payment_id: str | None


@dataclass(frozen=True, slots=True)
class IntentChanged:
    intent_id: IntentId
    status: IntentStatus
    version: int


DomainEvent = PaymentRecorded | IntentChanged
