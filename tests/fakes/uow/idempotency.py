"""FakeKeys: the idempotency keys (domain/idempotency.py)."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from domain.idempotency import IdempotencyRecord
from tests.fakes.uow.base import FakeRepository


class FakeKeys(FakeRepository):
    async def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        # The key is unique: wait for a transaction inserting the same one.
        await self.lock("keys", record.key)
        existing = self.tx.keys.get(record.key)
        if existing is None:
            self.tx.keys[record.key] = record
        return existing

    async def complete(self, key: str, payment_id: UUID) -> None:
        await self.lock("keys", key)
        existing = self.tx.keys.get(key)
        if existing is not None:
            self.tx.keys[key] = replace(existing, payment_id=payment_id)

    async def complete_refund(self, key: str, refund_id: UUID) -> None:
        await self.lock("keys", key)
        existing = self.tx.keys.get(key)
        if existing is not None:
            self.tx.keys[key] = replace(existing, refund_id=refund_id)
