"""Plain functions that build domain objects with sensible defaults."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

from domain.intents import IntentId, IntentStatus, QPayIntent
from domain.invoices import Invoice, InvoiceId, InvoiceStatus
from domain.qpay_messages import PaymentRow, QPayEnvironment

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def make_invoice(**overrides: Any) -> Invoice:
    invoice = Invoice(
        id=InvoiceId(uuid4()),
        number="INV-000001",
        description=None,
        total=Decimal("10000.00"),
        paid_amount=Decimal("0.00"),
        status=InvoiceStatus.UNPAID,
        created_at=T0,
        updated_at=T0,
    )
    return replace(invoice, **overrides)


def make_intent(invoice: Invoice | None = None, **overrides: Any) -> QPayIntent:
    owner = invoice or make_invoice()
    intent = QPayIntent(
        id=IntentId(uuid4()),
        invoice_id=owner.id,
        environment=QPayEnvironment.MOCK,
        amount=owner.balance,
        paid_amount=Decimal("0.00"),
        status=IntentStatus.PENDING,
        sender_invoice_no="MD" + uuid4().hex[:20],
        version=0,
        expires_at=T0 + timedelta(minutes=15),
        created_at=T0,
        updated_at=T0,
        qpay_invoice_id=str(uuid4()),
    )
    return replace(intent, **overrides)


def make_row(
    amount: str | Decimal = "10000.00",
    *,
    payment_id: str | None = None,
    status: str = "PAID",
    currency: str = "MNT",
) -> PaymentRow:
    return PaymentRow(
        payment_id=payment_id or str(uuid4().int)[:15],
        status=status,
        amount=Decimal(amount),
        currency=currency,
    )
