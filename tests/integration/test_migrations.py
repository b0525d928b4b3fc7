"""Migrations on real PostgreSQL: up, down, up again; models match them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

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


ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QPAY_")}
    env.update(DATABASE_URL=url, LOG_LEVEL="WARNING")
    return env


def test_two_migrations_at_once_on_a_fresh_database_both_succeed(
    postgres_server: tuple[str, object | None],
) -> None:
    admin_url, _ = postgres_server
    name = f"qpg_migr_{uuid.uuid4().hex[:8]}"
    url = fresh_database(admin_url, name)
    try:
        started = [
            subprocess.Popen(  # noqa: S603  # our own CLI
                [str(BIN / "qpay-graph"), "migrate"],
                env=_env(url),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(3)
        ]
        outcomes = [(p.wait(timeout=120), p.communicate()[0]) for p in started]

        assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
        diff, _, tables = asyncio.run(_inspect(url))
        assert diff == [] and tables == 12
    finally:
        drop_database(admin_url, name)


def test_alembic_from_the_checkout_migrates_database_url_and_autogenerates(
    postgres_server: tuple[str, object | None],
) -> None:
    admin_url, _ = postgres_server
    name = f"qpg_migr_{uuid.uuid4().hex[:8]}"
    url = fresh_database(admin_url, name)
    plain = url.replace("postgresql+asyncpg://", "postgresql://")
    try:
        upgraded = subprocess.run(  # noqa: S603  # alembic's own CLI
            [str(BIN / "alembic"), "upgrade", "head"],
            env=_env(plain),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        # What `alembic revision --autogenerate` compares, without writing a
        # file: the models against the migrated database.
        checked = subprocess.run(  # noqa: S603
            [str(BIN / "alembic"), "check"],
            env=_env(url),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        unset = subprocess.run(  # noqa: S603
            [str(BIN / "alembic"), "current"],
            env={k: v for k, v in _env(url).items() if k != "DATABASE_URL"},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

        assert upgraded.returncode == 0, upgraded.stderr
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "No new upgrade operations detected" in checked.stdout
        assert unset.returncode != 0
        assert "set DATABASE_URL" in unset.stderr
        assert "Traceback" not in unset.stderr
    finally:
        drop_database(admin_url, name)
