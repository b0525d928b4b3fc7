"""The polling schedule (the PollSchedule port): which intents are due for a
QPay check, leased to one poller at a time, watched by a checkout screen."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, func, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.intents import IntentId, IntentRef
from domain.invoices import InvoiceId
from domain.ports import DueIntent
from domain.qpay_messages import QPayEnvironment
from persistence.sql import intents, interval

# Prebuilt: see persistence/invoices.py (the poller sends both for every
# check of an intent, all day while checkout screens wait). The claim says
# what QPay is asked about, so the check reads nothing before it.
_CLAIM_DUE = text(
    """
    WITH due AS (
        SELECT id, next_check_at FROM qpay_intents
        WHERE status = 'PENDING' AND qpay_invoice_id IS NOT NULL
          AND environment = :environment
          AND next_check_at <= now()
          AND (lease_until IS NULL OR lease_until < now())
        ORDER BY next_check_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE qpay_intents AS i
    SET lease_until = now() + make_interval(secs => :lease),
        lease_owner = :owner,
        check_count = i.check_count + 1
    FROM due WHERE i.id = due.id
    RETURNING i.id, i.invoice_id, i.qpay_invoice_id,
              i.expires_at <= now() AS expired,
              extract(epoch FROM now() - due.next_check_at) AS lag,
              coalesce(i.watched_until > now(), false) AS watched,
              i.check_count
    """
)
_RELEASE = (
    intents.update()
    .where(
        intents.c.id == bindparam("b_id"),
        intents.c.lease_owner == bindparam("b_owner"),
    )
    .values(
        lease_until=None,
        lease_owner=None,
        next_check_at=func.now() + interval(bindparam("b_delay")),
    )
)


class SqlAlchemyPollSchedule:
    """When each intent is checked at QPay: leases on the database clock."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def mark_watched(
        self, intent_ids: Sequence[IntentId], seconds: float, poll_interval: float
    ) -> Sequence[tuple[IntentId, int]]:
        result = await self._conn.execute(
            intents.update()
            .where(intents.c.id.in_(list(intent_ids)))
            .values(
                watched_until=func.now() + interval(seconds),
                next_check_at=func.least(
                    intents.c.next_check_at, func.now() + interval(poll_interval)
                ),
            )
            .returning(intents.c.id, intents.c.version)
        )
        return [(IntentId(row.id), int(row.version)) for row in result]

    async def claim_due(
        self, owner: str, limit: int, lease_seconds: float, environment: QPayEnvironment
    ) -> Sequence[DueIntent]:
        result = await self._conn.execute(
            _CLAIM_DUE,
            {
                "limit": limit,
                "lease": lease_seconds,
                "owner": owner,
                "environment": environment.value,
            },
        )
        return [
            DueIntent(
                ref=IntentRef(
                    IntentId(row.id),
                    InvoiceId(row.invoice_id),
                    row.qpay_invoice_id,
                    environment,
                ),
                expired=row.expired,
                watched=row.watched,
                check_count=row.check_count,
                lag_seconds=float(row.lag),
            )
            for row in result
        ]

    async def release(
        self, intent_id: IntentId, owner: str, delay_seconds: float
    ) -> None:
        await self._conn.execute(
            _RELEASE, {"b_id": intent_id, "b_owner": owner, "b_delay": delay_seconds}
        )

    async def claim_check(self, intent_id: IntentId, min_interval: float) -> bool:
        result = await self._conn.execute(
            update(intents)
            .where(
                intents.c.id == intent_id,
                (intents.c.last_checked_at.is_(None))
                | (intents.c.last_checked_at <= func.now() - interval(min_interval)),
            )
            .values(last_checked_at=func.now())
            .returning(intents.c.id)
        )
        return result.first() is not None
