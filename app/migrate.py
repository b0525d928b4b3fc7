"""Alembic, driven from code: `qpay-graph migrate` and the embedded start-up."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from persistence.engine import tls_arguments


def migrations_dir() -> Path:
    spec = importlib.util.find_spec("migrations")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the migrations package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision` (blocking; runs its own event loop)."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def at_head(database_url: str) -> bool:
    """Whether the database's schema is at this code's head revision."""
    script = ScriptDirectory.from_config(alembic_config(database_url))
    return asyncio.run(_current_heads(database_url)) == set(script.get_heads())


async def _current_heads(database_url: str) -> set[str]:
    engine = create_async_engine(database_url, connect_args=tls_arguments(database_url))
    try:
        async with engine.connect() as connection:
            return set(
                await connection.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_heads()
                )
            )
    finally:
        await engine.dispose()


def shown(database_url: str) -> str:
    """The URL without its password, for a message."""
    return make_url(database_url).render_as_string(hide_password=True)


def database_problem(error: BaseException) -> str | None:
    """What keeps us from the database, in one line, when `error` (or what
    caused it) is that; None for any other failure (a bug: its traceback
    is worth seeing)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, asyncpg.PostgresError | asyncpg.InterfaceError):
            return f"{type(seen).__name__}: {seen}".splitlines()[0]
        if isinstance(seen, TimeoutError):
            return "no answer in time"
        if isinstance(seen, OSError):
            return f"cannot connect ({seen.strerror or seen})"
        seen = seen.__cause__ or seen.__context__
    return None
