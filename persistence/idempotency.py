"""Idempotency keys (the IdempotencyRepository port; domain/idempotency.py)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.idempotency import IdempotencyRecord
from persistence.sql import idempotency_keys

# Prebuilt: see persistence/invoices.py.
_KEY_CLAIM = (
    insert(idempotency_keys)
    .values(
        key=bindparam("key"),
        fingerprint=bindparam("fingerprint"),
        invoice_id=bindparam("invoice_id"),
        created_at=bindparam("created_at"),
    )
    .on_conflict_do_nothing(index_elements=["key"])
    .returning(idempotency_keys.c.key)
)
_KEY_BY_ID = select(idempotency_keys).where(idempotency_keys.c.key == bindparam("key"))
_KEY_COMPLETE = (
    idempotency_keys.update()
    .where(idempotency_keys.c.key == bindparam("key_id"))
    .values(payment_id=bindparam("payment_id"))
)


class SqlAlchemyIdempotencyRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        # ON CONFLICT waits for a concurrent inserter of the same key to finish,
        # so exactly one request proceeds and the others read its result.
        inserted = await self._conn.execute(
            _KEY_CLAIM,
            {
                "key": record.key,
                "fingerprint": record.fingerprint,
                "invoice_id": record.invoice_id,
                "created_at": record.created_at,
            },
        )
        if inserted.first() is not None:
            return None
        result = await self._conn.execute(_KEY_BY_ID, {"key": record.key})
        row = result.mappings().one()
        return IdempotencyRecord(
            key=row["key"],
            fingerprint=row["fingerprint"],
            invoice_id=row["invoice_id"],
            created_at=row["created_at"],
            payment_id=row["payment_id"],
            refund_id=row["refund_id"],
        )

    async def complete(self, key: str, payment_id: UUID) -> None:
        await self._conn.execute(
            _KEY_COMPLETE, {"key_id": key, "payment_id": payment_id}
        )

    async def complete_refund(self, key: str, refund_id: UUID) -> None:
        await self._conn.execute(
            idempotency_keys.update()
            .where(idempotency_keys.c.key == key)
            .values(refund_id=refund_id)
        )
