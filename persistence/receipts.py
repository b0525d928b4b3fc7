"""e-Barimt receipts: the outbox rows the worker issues, leased by owner."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import case, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.ebarimt import EbarimtReceipt, EbarimtReceiverType, EbarimtStatus
from domain.intents import IntentId
from domain.ports import DueReceipt, ReceiptMarked
from domain.qpay_messages import IssuedReceipt, QPayEnvironment
from persistence import mapping
from persistence.sql import intents, interval, receipts

_CLAIM = text(
    """
    WITH due AS (
        SELECT r.id FROM ebarimt_receipts AS r
        JOIN qpay_intents AS i ON i.id = r.intent_id
        WHERE r.status IN ('PENDING', 'VOIDING') AND r.next_attempt_at <= now()
          AND (r.lease_until IS NULL OR r.lease_until < now())
          AND i.environment = :environment
        ORDER BY r.next_attempt_at
        LIMIT :limit
        FOR UPDATE OF r SKIP LOCKED
    )
    UPDATE ebarimt_receipts AS r
    SET lease_until = now() + make_interval(secs => :lease),
        lease_owner = :owner
    FROM due, payments AS p
    WHERE r.id = due.id AND p.id = r.payment_id
    RETURNING r.id, r.payment_id, r.intent_id, r.receiver_type, r.receiver,
              r.attempts, p.qpay_txn_id, r.uncertain_since IS NOT NULL AS uncertain,
              r.status = 'VOIDING' AS voiding, r.ebarimt_id
    """
)


class SqlAlchemyReceiptRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    def _mine(
        self,
        receipt_id: UUID,
        owner: str,
        status: EbarimtStatus = EbarimtStatus.PENDING,
    ) -> Any:
        """Still `status` and leased by `owner`: the guard of every update."""
        return (
            (receipts.c.id == receipt_id)
            & (receipts.c.status == status.value)
            & (receipts.c.lease_owner == owner)
        )

    async def add_pending(self, receipt: EbarimtReceipt, intent_id: IntentId) -> None:
        await self._conn.execute(
            insert(receipts)
            .values(
                id=receipt.id,
                payment_id=receipt.payment_id,
                intent_id=intent_id,
                status=receipt.status.value,
                receiver_type=receipt.receiver_type.value,
                receiver=receipt.receiver,
                attempts=0,
                created_at=receipt.created_at,
                updated_at=receipt.created_at,
            )
            .on_conflict_do_nothing(index_elements=["payment_id"])
        )

    async def claim_due(
        self,
        limit: int,
        lease_seconds: float,
        environment: QPayEnvironment,
        owner: str,
    ) -> Sequence[DueReceipt]:
        result = await self._conn.execute(
            _CLAIM,
            {
                "limit": limit,
                "lease": lease_seconds,
                "environment": environment.value,
                "owner": owner,
            },
        )
        return [
            DueReceipt(
                id=row.id,
                payment_id=row.payment_id,
                intent_id=IntentId(row.intent_id) if row.intent_id else None,
                qpay_payment_id=row.qpay_txn_id or "",
                receiver_type=EbarimtReceiverType(row.receiver_type),
                receiver=row.receiver,
                attempts=row.attempts,
                uncertain=row.uncertain,
                voiding=row.voiding,
                ebarimt_id=row.ebarimt_id,
            )
            for row in result
        ]

    async def mark_sending(self, receipt_id: UUID, owner: str) -> bool:
        result = await self._conn.execute(
            receipts.update()
            .where(self._mine(receipt_id, owner))
            .values(
                uncertain_since=func.coalesce(receipts.c.uncertain_since, func.now())
            )
            .returning(receipts.c.id)
        )
        return result.first() is not None

    async def mark_issued(
        self, receipt_id: UUID, issued: IssuedReceipt, *, owner: str, now: datetime
    ) -> ReceiptMarked:
        intent_id = await self._conn.scalar(
            receipts.update()
            .where(self._mine(receipt_id, owner))
            .values(
                status=EbarimtStatus.ISSUED.value,
                ebarimt_id=issued.ebarimt_id,
                lottery=issued.lottery,
                qr_data=issued.qr_data,
                raw=dict(issued.raw),
                attempts=receipts.c.attempts + 1,
                last_error=None,
                uncertain_since=None,
                lease_until=None,
                lease_owner=None,
                updated_at=now,
            )
            .returning(receipts.c.intent_id)
        )
        if intent_id is None:
            return ReceiptMarked(applied=False)
        return ReceiptMarked(True, await self._touch_intent(intent_id, now))

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
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_error": error,
            "lease_until": None,
            "lease_owner": None,
            "updated_at": now,
        }
        if uncertain is not None:
            values["uncertain_since"] = (
                func.coalesce(receipts.c.uncertain_since, func.now())
                if uncertain
                else None
            )
        if retry_in is None:
            values["status"] = EbarimtStatus.FAILED.value
        else:
            values["next_attempt_at"] = func.now() + interval(retry_in)
        status = EbarimtStatus.VOIDING if voiding else EbarimtStatus.PENDING
        intent_id = await self._conn.scalar(
            receipts.update()
            .where(self._mine(receipt_id, owner, status))
            .values(values)
            .returning(receipts.c.intent_id)
        )
        if intent_id is None:
            return ReceiptMarked(applied=False)
        if retry_in is not None:
            return ReceiptMarked(applied=True)
        return ReceiptMarked(True, await self._touch_intent(intent_id, now))

    async def mark_voided(
        self, receipt_id: UUID, *, owner: str, now: datetime
    ) -> ReceiptMarked:
        intent_id = await self._conn.scalar(
            receipts.update()
            .where(self._mine(receipt_id, owner, EbarimtStatus.VOIDING))
            .values(
                status=EbarimtStatus.VOIDED.value,
                attempts=receipts.c.attempts + 1,
                last_error=None,
                lease_until=None,
                lease_owner=None,
                updated_at=now,
            )
            .returning(receipts.c.intent_id)
        )
        if intent_id is None:
            return ReceiptMarked(applied=False)
        return ReceiptMarked(True, await self._touch_intent(intent_id, now))

    async def return_for_payment(self, payment_id: UUID, now: datetime) -> int:
        # Never sent (no create in flight or lost): nothing to cancel at QPay.
        never_sent = (
            (receipts.c.status == EbarimtStatus.PENDING.value)
            & receipts.c.uncertain_since.is_(None)
            & (receipts.c.lease_until.is_(None) | (receipts.c.lease_until < func.now()))
        )
        result = await self._conn.execute(
            receipts.update()
            .where(
                receipts.c.payment_id == payment_id,
                receipts.c.status.in_(
                    [EbarimtStatus.PENDING.value, EbarimtStatus.ISSUED.value]
                ),
            )
            .values(
                status=case(
                    (never_sent, EbarimtStatus.VOIDED.value),
                    else_=EbarimtStatus.VOIDING.value,
                ),
                attempts=0,
                next_attempt_at=func.now(),
                updated_at=now,
            )
            .returning(receipts.c.status)
        )
        return sum(1 for row in result if row.status == EbarimtStatus.VOIDING.value)

    async def _touch_intent(self, intent_id: UUID, now: datetime) -> int | None:
        version = await self._conn.scalar(
            intents.update()
            .where(intents.c.id == intent_id)
            .values(version=intents.c.version + 1, updated_at=now)
            .returning(intents.c.version)
        )
        return int(version) if version is not None else None

    async def list_for_payments(
        self, payment_ids: Sequence[UUID]
    ) -> Sequence[EbarimtReceipt]:
        if not payment_ids:
            return []
        result = await self._conn.execute(
            select(receipts).where(receipts.c.payment_id.in_(list(payment_ids)))
        )
        return [mapping.receipt_from_row(row) for row in result.mappings()]

    async def list_failed(
        self, environment: QPayEnvironment
    ) -> Sequence[EbarimtReceipt]:
        result = await self._conn.execute(
            select(receipts)
            .join(intents, intents.c.id == receipts.c.intent_id)
            .where(
                receipts.c.status == EbarimtStatus.FAILED.value,
                intents.c.environment == environment.value,
            )
            .order_by(receipts.c.created_at)
        )
        return [mapping.receipt_from_row(row) for row in result.mappings()]
