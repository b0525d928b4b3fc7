"""Refunds (the RefundRepository port; domain/refunds.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.money import ZERO
from domain.payments import PaymentMethod
from domain.refunds import Refund, RefundId, RefundStatus
from persistence import mapping
from persistence.sql import payments, refunds

# The partial unique index uq_refunds_qpay_once (migration 0009).
_QPAY_ONCE = text("channel <> 'DESK' AND status <> 'FAILED'")


class SqlAlchemyRefundRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, refund: Refund) -> bool:
        inserted = await self._conn.execute(
            insert(refunds)
            .values(mapping.refund_values(refund))
            .on_conflict_do_nothing(
                index_elements=["payment_id"], index_where=_QPAY_ONCE
            )
            .returning(refunds.c.id)
        )
        return inserted.first() is not None

    async def get(self, refund_id: RefundId) -> Refund | None:
        result = await self._conn.execute(
            select(refunds).where(refunds.c.id == refund_id)
        )
        row = result.mappings().first()
        return mapping.refund_from_row(row) if row else None

    async def update(self, refund: Refund) -> None:
        await self._conn.execute(
            refunds.update()
            .where(refunds.c.id == refund.id)
            .values(
                status=refund.status.value,
                last_error=refund.last_error,
                updated_at=refund.updated_at,
                completed_at=refund.completed_at,
            )
        )

    async def delete(self, refund_id: RefundId) -> None:
        await self._conn.execute(refunds.delete().where(refunds.c.id == refund_id))

    async def list_for_payments(self, payment_ids: Sequence[UUID]) -> Sequence[Refund]:
        if not payment_ids:
            return []
        result = await self._conn.execute(
            select(refunds)
            .where(refunds.c.payment_id.in_(list(payment_ids)))
            .order_by(refunds.c.created_at, refunds.c.id)
        )
        return [mapping.refund_from_row(row) for row in result.mappings()]

    async def pending(self, older_than: datetime, limit: int) -> Sequence[Refund]:
        result = await self._conn.execute(
            select(refunds)
            .where(
                refunds.c.status == RefundStatus.PENDING.value,
                refunds.c.created_at < older_than,
            )
            .order_by(refunds.c.created_at)
            .limit(limit)
        )
        return [mapping.refund_from_row(row) for row in result.mappings()]

    async def totals_by_method(
        self, start: datetime, end: datetime
    ) -> Mapping[PaymentMethod, tuple[Decimal, int]]:
        result = await self._conn.execute(
            select(payments.c.method, func.sum(refunds.c.amount), func.count())
            .join(payments, payments.c.id == refunds.c.payment_id)
            .where(
                refunds.c.status == RefundStatus.COMPLETED.value,
                refunds.c.completed_at >= start,
                refunds.c.completed_at < end,
                payments.c.currency == "MNT",
            )
            .group_by(payments.c.method)
        )
        return {
            PaymentMethod(method): (total or ZERO, count)
            for method, total, count in result
        }
