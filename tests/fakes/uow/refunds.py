"""FakeRefunds: refunds, at most one live QPay refund per payment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from domain.payments import PaymentMethod
from domain.refunds import Refund, RefundChannel, RefundId, RefundStatus
from tests.fakes.uow.base import FakeRepository


def _qpay_once(refund: Refund) -> bool:
    """Under the partial unique index uq_refunds_qpay_once."""
    return refund.channel is not RefundChannel.DESK and refund.holds_money


class FakeRefunds(FakeRepository):
    async def add(self, refund: Refund) -> bool:
        if _qpay_once(refund):
            # A unique key: wait for a transaction inserting the same one.
            await self.lock("refund_qpay_once", refund.payment_id)
            if any(
                r.payment_id == refund.payment_id and _qpay_once(r)
                for r in self.tx.refunds.values()
            ):
                return False
        await self.lock("refunds", refund.id)
        self.tx.refunds[refund.id] = refund
        return True

    async def get(self, refund_id: RefundId) -> Refund | None:
        return self.tx.refunds.get(refund_id)

    async def update(self, refund: Refund) -> None:
        await self.lock("refunds", refund.id)
        if refund.id in self.tx.refunds:
            self.tx.refunds[refund.id] = refund

    async def delete(self, refund_id: RefundId) -> None:
        await self.lock("refunds", refund_id)
        if refund_id in self.tx.refunds:
            del self.tx.refunds[refund_id]
        for key, record in self.tx.keys.items():
            if record.refund_id == refund_id:  # ON DELETE CASCADE
                del self.tx.keys[key]

    async def list_for_payments(self, payment_ids: Sequence[UUID]) -> Sequence[Refund]:
        return sorted(
            (r for r in self.tx.refunds.values() if r.payment_id in payment_ids),
            key=lambda r: (r.created_at, r.id),
        )

    async def pending(self, older_than: datetime, limit: int) -> Sequence[Refund]:
        found = sorted(
            (
                r
                for r in self.tx.refunds.values()
                if r.status is RefundStatus.PENDING and r.created_at < older_than
            ),
            key=lambda r: r.created_at,
        )
        return found[:limit]

    async def totals_by_method(
        self, start: datetime, end: datetime
    ) -> Mapping[PaymentMethod, tuple[Decimal, int]]:
        totals: dict[PaymentMethod, tuple[Decimal, int]] = {}
        for r in self.tx.refunds.values():
            at = r.completed_at
            payment = self.tx.payments[r.payment_id]
            if at is not None and start <= at < end and payment.counts:
                total, count = totals.get(payment.method, (Decimal(0), 0))
                totals[payment.method] = (total + r.amount, count + 1)
        return totals
