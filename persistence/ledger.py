"""The ledger sweep's lease and cursor, and the flags it raises (SQL Core)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.ledger import LedgerFlag, LedgerFlagKind, SweepClaim, SweepState
from domain.qpay_messages import QPayEnvironment
from persistence.sql import flags, sweeps

_CLAIM = text(
    """
    UPDATE qpay_ledger_sweeps
    SET lease_owner = :owner,
        lease_until = now() + make_interval(secs => :lease),
        updated_at = now()
    WHERE environment = :environment
      AND next_run_at <= now()
      AND (lease_until IS NULL OR lease_until < now())
    RETURNING swept_until, now() AS now,
      (SELECT min(created_at) FROM qpay_intents
       WHERE environment = :environment AND qpay_invoice_id IS NOT NULL)
      AS first_intent_at
    """
)


def _seconds(value: float) -> Any:
    return func.make_interval(0, 0, 0, 0, 0, 0, value)


class SqlAlchemyLedgerRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def claim_sweep(
        self, environment: QPayEnvironment, owner: str, lease_seconds: float
    ) -> SweepClaim | None:
        await self._conn.execute(
            insert(sweeps)
            .values(environment=environment.value)
            .on_conflict_do_nothing(index_elements=["environment"])
        )
        result = await self._conn.execute(
            _CLAIM,
            {"environment": environment.value, "owner": owner, "lease": lease_seconds},
        )
        row = result.first()
        if row is None:
            return None
        return SweepClaim(row.swept_until, row.now, row.first_intent_at)

    async def finish_sweep(
        self,
        environment: QPayEnvironment,
        owner: str,
        swept_until: datetime,
        next_in: float,
    ) -> None:
        await self._conn.execute(
            sweeps.update()
            .where(
                sweeps.c.environment == environment.value,
                sweeps.c.lease_owner == owner,
            )
            .values(
                # Never backwards: a slow sweep finishing after a newer one.
                swept_until=func.greatest(sweeps.c.swept_until, swept_until),
                next_run_at=func.now() + _seconds(next_in),
                lease_owner=None,
                lease_until=None,
                updated_at=func.now(),
            )
        )

    async def release_sweep(
        self, environment: QPayEnvironment, owner: str, retry_in: float
    ) -> None:
        await self._conn.execute(
            sweeps.update()
            .where(
                sweeps.c.environment == environment.value,
                sweeps.c.lease_owner == owner,
            )
            .values(
                next_run_at=func.now() + _seconds(retry_in),
                lease_owner=None,
                lease_until=None,
                updated_at=func.now(),
            )
        )

    async def extend_sweep(
        self, environment: QPayEnvironment, owner: str, lease_seconds: float
    ) -> bool:
        result = await self._conn.execute(
            sweeps.update()
            .where(
                sweeps.c.environment == environment.value,
                sweeps.c.lease_owner == owner,
            )
            .values(lease_until=func.now() + _seconds(lease_seconds))
            .returning(sweeps.c.environment)
        )
        return result.first() is not None

    async def sweep_state(self, environment: QPayEnvironment) -> SweepState:
        result = await self._conn.execute(
            select(
                select(sweeps.c.swept_until)
                .where(sweeps.c.environment == environment.value)
                .scalar_subquery()
                .label("swept_until"),
                func.now().label("now"),
            )
        )
        row = result.one()
        return SweepState(row.swept_until, row.now)

    async def raise_flag(
        self, environment: QPayEnvironment, flag: LedgerFlag, now: datetime
    ) -> bool:
        values = {
            "environment": environment.value,
            "kind": flag.kind.value,
            "qpay_payment_id": flag.qpay_payment_id[:64],
            "qpay_invoice_id": flag.qpay_invoice_id[:64]
            if flag.qpay_invoice_id
            else None,
            "amount": flag.amount,
            "currency": flag.currency,
            "status": flag.status[:32] if flag.status else None,
            "detail": flag.detail[:1000],
            "first_seen_at": now,
            "last_seen_at": now,
        }
        upsert = insert(flags).values(values)
        statement: Any = upsert.on_conflict_do_update(
            index_elements=["environment", "kind", "qpay_payment_id"],
            set_={
                "last_seen_at": now,
                "detail": upsert.excluded.detail,
                "qpay_invoice_id": func.coalesce(
                    upsert.excluded.qpay_invoice_id, flags.c.qpay_invoice_id
                ),
            },
        ).returning(literal_column("xmax = 0"))  # true when inserted, not updated
        return bool(await self._conn.scalar(statement))

    async def open_flags(self, environment: QPayEnvironment) -> Sequence[LedgerFlag]:
        result = await self._conn.execute(
            select(flags)
            .where(
                flags.c.environment == environment.value,
                flags.c.resolved_at.is_(None),
            )
            .order_by(flags.c.first_seen_at, flags.c.id)
        )
        return [
            LedgerFlag(
                kind=LedgerFlagKind(row["kind"]),
                qpay_payment_id=row["qpay_payment_id"],
                detail=row["detail"],
                qpay_invoice_id=row["qpay_invoice_id"],
                amount=row["amount"],
                currency=row["currency"],
                status=row["status"],
                first_seen_at=row["first_seen_at"],
            )
            for row in result.mappings()
        ]

    async def resolve_flags(
        self,
        environment: QPayEnvironment,
        qpay_invoice_id: str,
        kind: LedgerFlagKind,
        now: datetime,
    ) -> int:
        result = await self._conn.execute(
            flags.update()
            .where(
                flags.c.environment == environment.value,
                flags.c.kind == kind.value,
                flags.c.qpay_invoice_id == qpay_invoice_id,
                flags.c.resolved_at.is_(None),
            )
            .values(resolved_at=now)
        )
        return result.rowcount
