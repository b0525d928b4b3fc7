"""Payments (the PaymentRepository port). A payment is recorded once per QPay
payment id: the unique index refuses a second, raised as DuplicateQPayPayment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.invoices import InvoiceId
from domain.money import CURRENCY
from domain.payments import Payment, PaymentMethod
from domain.ports import DuplicateQPayPayment
from persistence import mapping
from persistence.sql import Refused, payments

# Prebuilt: see persistence/invoices.py.
_PAYMENT_INSERT = payments.insert()
_PAYMENT_BY_ID = select(payments).where(payments.c.id == bindparam("id"))


class SqlAlchemyPaymentRepository:
    def __init__(self, conn: AsyncConnection, refused: Refused | None = None) -> None:
        self._conn = conn
        self._refused = refused

    async def add(self, payment: Payment) -> None:
        values = mapping.payment_values(payment)
        if payment.qpay_payment_id is None:
            await self._conn.execute(_PAYMENT_INSERT, values)
            return
        try:
            await self._conn.execute(_PAYMENT_INSERT, values)
        except IntegrityError as error:
            if self._refused is not None:
                self._refused("a payment was refused")
            if "uq_payments_qpay_txn_id" in str(error.orig):
                raise DuplicateQPayPayment(payment.qpay_payment_id) from None
            raise

    async def get(self, payment_id: UUID) -> Payment | None:
        result = await self._conn.execute(_PAYMENT_BY_ID, {"id": payment_id})
        row = result.mappings().first()
        return mapping.payment_from_row(row) if row else None

    async def list_for_invoices(
        self, invoice_ids: Sequence[InvoiceId]
    ) -> Sequence[Payment]:
        if not invoice_ids:
            return []
        result = await self._conn.execute(
            select(payments)
            .where(payments.c.invoice_id.in_(list(invoice_ids)))
            .order_by(payments.c.created_at, payments.c.id)
        )
        return [mapping.payment_from_row(row) for row in result.mappings()]

    async def totals_by_method(
        self, start: datetime, end: datetime
    ) -> Mapping[PaymentMethod, tuple[Decimal, int]]:
        result = await self._conn.execute(
            select(payments.c.method, func.sum(payments.c.amount), func.count())
            .where(
                payments.c.created_at >= start,
                payments.c.created_at < end,
                payments.c.currency == CURRENCY,
            )
            .group_by(payments.c.method)
        )
        return {
            PaymentMethod(method): (total, count) for method, total, count in result
        }

    async def by_qpay_ids(self, qpay_payment_ids: Sequence[str]) -> dict[str, Payment]:
        if not qpay_payment_ids:
            return {}
        result = await self._conn.execute(
            select(payments).where(payments.c.qpay_txn_id.in_(list(qpay_payment_ids)))
        )
        found = (mapping.payment_from_row(row) for row in result.mappings())
        return {p.qpay_payment_id: p for p in found if p.qpay_payment_id is not None}
