"""Shared fixtures: anyio backend, a migrated PostgreSQL database per test
session (TEST_DATABASE_URL's server, or an embedded PostgreSQL), clean tables
per test, and settings for the app under test."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from app import migrate
from app.settings import Settings, load_settings
from tests.db import asyncpg_url

# Log hygiene is checked over the whole session: see tests/log_hygiene.py.
pytest_plugins = ["tests.log_hygiene"]

TABLES = (
    "payment_events",
    "qpay_ledger_flags",
    "qpay_ledger_sweeps",
    "qpay_callbacks",
    "ebarimt_receipts",
    "idempotency_keys",
    "payments",
    "qpay_intents",
    "invoices",
)
TEST_JWT_SECRET = "test-secret-" + "x" * 40


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _admin(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(asyncpg_url(url))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[tuple[str, object | None]]:
    """(admin URL, embedded server or None) for the whole test session."""
    base = os.environ.get("TEST_DATABASE_URL")
    if base:
        yield base, None
        return
    from app.embedded import EmbeddedPostgres  # only without a server

    with tempfile.TemporaryDirectory(prefix="qpg-test-pg-") as directory:
        embedded = EmbeddedPostgres(Path(directory), database="postgres")
        embedded.start()
        try:
            yield embedded.url("postgres"), embedded
        finally:
            embedded.stop()


def fresh_database(admin_url: str, name: str) -> str:
    """CREATE DATABASE `name` on the admin URL's server; returns its URL."""
    asyncio.run(
        _admin(
            admin_url, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'
        )
    )
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_url(postgres_server: tuple[str, object | None]) -> Iterator[str]:
    """A throwaway database migrated to head, dropped at the end."""
    admin_url, _ = postgres_server
    name = f"qpg_test_{uuid.uuid4().hex[:10]}"
    url = fresh_database(admin_url, name)
    migrate.upgrade(url)
    try:
        yield url
    finally:
        drop_database(admin_url, name)


@pytest.fixture
async def clean_db(database_url: str) -> str:
    """The session database with every table emptied before the test."""
    connection = await asyncpg.connect(asyncpg_url(database_url))
    try:
        await connection.execute(
            f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE;"  # noqa: S608  # constant names
            "UPDATE payment_method_configs SET enabled = true;"
        )
    finally:
        await connection.close()
    return database_url


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Settings for a test: memory events, the simulator, a fixed JWT secret."""

    def build(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "_env_file": None,
            "environment": "development",
            "data_dir": tmp_path / "data",
            "events_url": "memory://",
            "auth_jwt_secret": TEST_JWT_SECRET,
            "qpay_env": "mock",
            "public_base_url": "http://test",
            "log_level": "WARNING",
        }
        values.update(overrides)
        return load_settings(**values)

    return build
