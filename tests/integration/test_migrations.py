"""Migrations on real PostgreSQL: up, down, up again; models match them."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from app import migrate
from persistence.tables import metadata
from tests.conftest import drop_database, fresh_database

pytestmark = pytest.mark.db


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata))


TABLE_COUNT = (
    "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
)


async def _table_count(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(text(TABLE_COUNT)) or 0)
    finally:
        await engine.dispose()


async def _inspect(url: str) -> tuple[list[object], list[str], int]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(_diff)
            methods = (
                await connection.execute(
                    text("SELECT method FROM payment_method_configs WHERE enabled")
                )
            ).scalars()
            tables = await connection.scalar(text(TABLE_COUNT))
            return diff, sorted(methods), int(tables or 0)
    finally:
        await engine.dispose()


def test_upgrade_downgrade_upgrade_leaves_models_and_schema_equal_when_run(
    postgres_server: tuple[str, object | None],
) -> None:
    admin_url, _ = postgres_server
    name = f"qpg_migr_{uuid.uuid4().hex[:8]}"
    url = fresh_database(admin_url, name)
    try:
        migrate.upgrade(url)
        migrate.downgrade(url, "base")
        tables_after_downgrade = asyncio.run(_table_count(url))
        migrate.upgrade(url)

        diff, methods, tables = asyncio.run(_inspect(url))

        assert tables_after_downgrade == 1  # only alembic_version remains
        assert diff == []
        assert methods == ["BANK_TRANSFER", "CARD", "CASH", "INSURANCE", "QPAY"]
        assert tables == 12  # ten, payment_events (0007), refunds (0009)
    finally:
        drop_database(admin_url, name)
