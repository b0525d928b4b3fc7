"""Alembic environment: async (asyncpg).

The URL comes from the caller (app/migrate.py sets `sqlalchemy.url`, or
passes an open connection) or, for a developer running `alembic` from the
checkout, from DATABASE_URL (with `alembic -x database_url=...` first).

Migrations run under a PostgreSQL advisory lock (session-level, on the
migrating connection): two `qpay-graph migrate` (or two `serve` starts) at
once on a fresh database queue instead of both creating the tables; the
second finds the head applied and does nothing.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from persistence.engine import tls_arguments
from persistence.tables import metadata

config = context.config

# Any constant shared by every migrating process ("qpay-graph" in ASCII).
MIGRATION_LOCK = 0x71706179_6772
ASYNC_SCHEME = "postgresql+asyncpg://"


def database_url() -> str:
    """The URL to migrate: given by the caller, `-x database_url=`, or
    DATABASE_URL (a plain postgresql:// URL is taken as asyncpg's)."""
    url = (
        config.get_main_option("sqlalchemy.url")
        or context.get_x_argument(as_dictionary=True).get("database_url")
        or os.environ.get("DATABASE_URL")
    )
    if not url:
        raise SystemExit(
            "no database to migrate: set DATABASE_URL "
            "(postgresql+asyncpg://user@host:5432/db)"
        )
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return ASYNC_SCHEME + url.removeprefix(plain)
    return url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
    )
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
    connection.commit()
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        connection.execute(
            text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK}
        )
        connection.commit()


async def _run_async() -> None:
    url = database_url()
    engine = create_async_engine(url, connect_args=tls_arguments(url))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    context.configure(
        url=database_url(),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
