"""FakePayments: one payment per QPay payment id (the unique index)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from domain.invoices import InvoiceId
from domain.payments import Payment, PaymentMethod
from domain.ports import DuplicateQPayPayment
from tests.fakes.uow.base import FakeRepository


class FakePayments(FakeRepository):
    async def add(self, payment: Payment) -> None:
        qpay_id = payment.qpay_payment_id
        if qpay_id is not None:
            # A unique key: wait for a transaction inserting the same one.
            await self.lock("payment_qpay_ids", qpay_id)
            if any(p.qpay_payment_id == qpay_id for p in self.tx.payments.values()):
                self.tx.aborted = "duplicate QPay payment"
                raise DuplicateQPayPayment(qpay_id)
        await self.lock("payments", payment.id)
        self.tx.payments[payment.id] = payment

    async def get(self, payment_id: UUID) -> Payment | None:
        return self.tx.payments.get(payment_id)

    async def list_for_invoices(
        self, invoice_ids: Sequence[InvoiceId]
    ) -> Sequence[Payment]:
        return sorted(
            (p for p in self.tx.payments.values() if p.invoice_id in invoice_ids),
            key=lambda p: (p.created_at, p.id),
        )

    async def totals_by_method(
        self, start: datetime, end: datetime
    ) -> Mapping[PaymentMethod, tuple[Decimal, int]]:
        totals: dict[PaymentMethod, tuple[Decimal, int]] = {}
        for p in self.tx.payments.values():
            if start <= p.created_at < end and p.counts:
                total, count = totals.get(p.method, (Decimal(0), 0))
                totals[p.method] = (total + p.amount, count + 1)
        return totals

    async def by_qpay_ids(self, qpay_payment_ids: Sequence[str]) -> dict[str, Payment]:
        return {
            p.qpay_payment_id: p
            for p in self.tx.payments.values()
            if p.qpay_payment_id is not None and p.qpay_payment_id in qpay_payment_ids
        }
