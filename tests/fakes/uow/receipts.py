"""FakeReceipts: the e-Barimt receipt outbox and its leases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

from domain.ebarimt import EbarimtReceipt, EbarimtStatus
from domain.intents import IntentId
from domain.ports import DueReceipt, ReceiptMarked
from domain.qpay_messages import IssuedReceipt, QPayEnvironment
from tests.fakes.uow.base import FakeRepository, lease_free
from tests.fakes.uow.store import FakeReceiptLease

_DUE = frozenset({EbarimtStatus.PENDING, EbarimtStatus.VOIDING})
_RETURNED = frozenset({EbarimtStatus.PENDING, EbarimtStatus.ISSUED})


class FakeReceipts(FakeRepository):
    async def add_pending(self, receipt: EbarimtReceipt, intent_id: IntentId) -> None:
        # One receipt per payment (a unique key): the second is not stored.
        await self.lock("receipt_payments", receipt.payment_id)
        if all(
            r.payment_id != receipt.payment_id for r, _ in self.tx.receipts.values()
        ):
            await self.lock("receipts", receipt.id)
            self.tx.receipts[receipt.id] = (receipt, intent_id)
            self.tx.receipt_leases[receipt.id] = FakeReceiptLease(self.now)

    async def claim_due(
        self, limit: int, lease_seconds: float, environment: QPayEnvironment, owner: str
    ) -> Sequence[DueReceipt]:
        now = self.now
        due = sorted(
            (
                (self.tx.receipt_leases[receipt.id], receipt, intent_id)
                for receipt, intent_id in self.tx.receipts.values()
                if receipt.status in _DUE
                and self.tx.intents[intent_id].environment is environment
                and not self.locked_by_others("receipts", receipt.id)
            ),
            key=lambda found: found[0].next_attempt_at,
        )
        claimed: list[DueReceipt] = []
        for lease, receipt, intent_id in due:
            if len(claimed) == limit:
                break
            if lease.next_attempt_at > now or not lease_free(lease.until, now):
                continue
            await self.lock("receipts", receipt.id)  # free: nobody else holds it
            self.tx.receipt_leases[receipt.id] = replace(
                lease, owner=owner, until=now + timedelta(seconds=lease_seconds)
            )
            payment = self.tx.payments[receipt.payment_id]
            claimed.append(
                DueReceipt(
                    receipt.id,
                    receipt.payment_id,
                    intent_id,
                    payment.qpay_payment_id or "",
                    receipt.receiver_type,
                    receipt.receiver,
                    receipt.attempts,
                    uncertain=lease.uncertain,
                    voiding=receipt.status is EbarimtStatus.VOIDING,
                    ebarimt_id=lease.ebarimt_id,
                )
            )
        return claimed

    async def _mine(
        self,
        receipt_id: UUID,
        owner: str,
        status: EbarimtStatus = EbarimtStatus.PENDING,
    ) -> bool:
        """Lock the row; whether it is still `status` and leased by `owner`."""
        await self.lock("receipts", receipt_id)
        found = self.tx.receipts.get(receipt_id)
        return (
            found is not None
            and found[0].status is status
            and self.tx.receipt_leases[receipt_id].owner == owner
        )

    async def mark_sending(self, receipt_id: UUID, owner: str) -> bool:
        if not await self._mine(receipt_id, owner):
            return False
        lease = self.tx.receipt_leases[receipt_id]
        self.tx.receipt_leases[receipt_id] = replace(lease, uncertain=True)
        return True

    async def mark_issued(
        self, receipt_id: UUID, issued: IssuedReceipt, *, owner: str, now: datetime
    ) -> ReceiptMarked:
        if not await self._mine(receipt_id, owner):
            return ReceiptMarked(applied=False)
        receipt, intent_id = self.tx.receipts[receipt_id]
        self.tx.receipts[receipt_id] = (
            replace(
                receipt,
                status=EbarimtStatus.ISSUED,
                lottery=issued.lottery,
                qr_data=issued.qr_data,
                last_error=None,
                attempts=receipt.attempts + 1,
            ),
            intent_id,
        )
        lease = self.tx.receipt_leases[receipt_id]
        self.tx.receipt_leases[receipt_id] = replace(
            lease,
            owner=None,
            until=None,
            uncertain=False,
            ebarimt_id=issued.ebarimt_id,
        )
        return ReceiptMarked(True, await self._touch(intent_id, now))

    async def mark_failed(
        self,
        receipt_id: UUID,
        error: str,
        *,
        owner: str,
        attempts: int,
        retry_in: float | None,
        uncertain: bool | None,
        now: datetime,
        voiding: bool = False,
    ) -> ReceiptMarked:
        was = EbarimtStatus.VOIDING if voiding else EbarimtStatus.PENDING
        if not await self._mine(receipt_id, owner, was):
            return ReceiptMarked(applied=False)
        receipt, intent_id = self.tx.receipts[receipt_id]
        status = EbarimtStatus.FAILED if retry_in is None else was
        self.tx.receipts[receipt_id] = (
            replace(receipt, status=status, last_error=error, attempts=attempts),
            intent_id,
        )
        lease = replace(self.tx.receipt_leases[receipt_id], owner=None, until=None)
        if uncertain is not None:
            lease = replace(lease, uncertain=uncertain)
        if retry_in is not None:
            lease = replace(
                lease, next_attempt_at=self.now + timedelta(seconds=retry_in)
            )
        self.tx.receipt_leases[receipt_id] = lease
        if retry_in is not None:
            return ReceiptMarked(applied=True)
        return ReceiptMarked(True, await self._touch(intent_id, now))

    async def mark_voided(
        self, receipt_id: UUID, *, owner: str, now: datetime
    ) -> ReceiptMarked:
        if not await self._mine(receipt_id, owner, EbarimtStatus.VOIDING):
            return ReceiptMarked(applied=False)
        receipt, intent_id = self.tx.receipts[receipt_id]
        self.tx.receipts[receipt_id] = (
            replace(
                receipt,
                status=EbarimtStatus.VOIDED,
                last_error=None,
                attempts=receipt.attempts + 1,
            ),
            intent_id,
        )
        lease = self.tx.receipt_leases[receipt_id]
        self.tx.receipt_leases[receipt_id] = replace(lease, owner=None, until=None)
        return ReceiptMarked(True, await self._touch(intent_id, now))

    async def return_for_payment(self, payment_id: UUID, now: datetime) -> int:
        voiding = 0
        for receipt, intent_id in self.tx.receipts.values():
            if receipt.payment_id != payment_id or receipt.status not in _RETURNED:
                continue
            await self.lock("receipts", receipt.id)
            lease = self.tx.receipt_leases[receipt.id]
            never_sent = (
                receipt.status is EbarimtStatus.PENDING
                and not lease.uncertain
                and lease_free(lease.until, self.now)
            )
            status = EbarimtStatus.VOIDED if never_sent else EbarimtStatus.VOIDING
            voiding += status is EbarimtStatus.VOIDING
            self.tx.receipts[receipt.id] = (
                replace(receipt, status=status, attempts=0),
                intent_id,
            )
            self.tx.receipt_leases[receipt.id] = replace(
                lease, next_attempt_at=self.now
            )
        return voiding

    async def _touch(self, intent_id: IntentId, now: datetime) -> int:
        await self.lock("intents", intent_id)
        touched = self.tx.intents[intent_id].touched(now)
        self.tx.intents[intent_id] = touched
        return touched.version

    async def list_for_payments(
        self, payment_ids: Sequence[UUID]
    ) -> Sequence[EbarimtReceipt]:
        return [r for r, _ in self.tx.receipts.values() if r.payment_id in payment_ids]

    async def list_failed(
        self, environment: QPayEnvironment
    ) -> Sequence[EbarimtReceipt]:
        return sorted(
            (
                r
                for r, intent_id in self.tx.receipts.values()
                if r.status is EbarimtStatus.FAILED
                and self.tx.intents[intent_id].environment is environment
            ),
            key=lambda r: r.created_at,
        )
