"""Payment method configuration (the MethodConfigRepository port)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.payments import PaymentMethod, PaymentMethodConfig
from persistence import mapping
from persistence.sql import method_configs


class SqlAlchemyMethodConfigRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def list(self) -> Sequence[PaymentMethodConfig]:
        result = await self._conn.execute(
            select(method_configs).order_by(
                method_configs.c.position, method_configs.c.method
            )
        )
        return [mapping.method_config_from_row(row) for row in result.mappings()]

    async def get(self, method: PaymentMethod) -> PaymentMethodConfig | None:
        result = await self._conn.execute(
            select(method_configs).where(method_configs.c.method == method.value)
        )
        row = result.mappings().first()
        return mapping.method_config_from_row(row) if row else None
