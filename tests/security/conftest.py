"""Security fixtures: the app in process in development and in production
configuration (QPay unreachable), and the state a refused request must leave
as it was."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.settings import Settings
from tests import db
from tests.conftest import TABLES, SettingsFactory
from tests.harness import Harness, running_app

# Nothing listens on the discard port: every QPay call fails to connect.
UNREACHABLE_QPAY = "http://127.0.0.1:9/v2"


def production_settings(
    make_settings: SettingsFactory, database_url: str, **overrides: object
) -> Settings:
    """ENVIRONMENT=production with fake sandbox credentials and QPay unreachable."""
    values: dict[str, object] = {
        "environment": "production",
        "database_url": database_url,
        "qpay_env": "sandbox",
        "qpay_client_id": "FAKE_MERCHANT",
        "qpay_client_secret": "fake-secret",
        "qpay_invoice_code": "FAKE_INVOICE",
        "qpay_base_url": UNREACHABLE_QPAY,
        "qpay_connect_timeout_seconds": 1,
        "qpay_read_timeout_seconds": 1,
        # Production refuses plain http and loopback; requests still go in
        # process (the harness's transport), so the name is never resolved.
        "public_base_url": "https://test",
    }
    values.update(overrides)
    return make_settings(**values)


@pytest.fixture
async def harness(
    clean_db: str, make_settings: SettingsFactory
) -> AsyncIterator[Harness]:
    """The app in development configuration, on a clean database."""
    async with running_app(make_settings(database_url=clean_db)) as running:
        yield running


@pytest.fixture
async def production(
    clean_db: str, make_settings: SettingsFactory
) -> AsyncIterator[Harness]:
    """The app in production configuration, on a clean database."""
    async with running_app(production_settings(make_settings, clean_db)) as running:
        yield running


def database_of(harness: Harness) -> str:
    url: str | None = harness.app.state.container.settings.database_url
    assert url is not None
    return url


async def row_counts(url: str) -> dict[str, int]:
    """Rows in every table the app writes (the schema's own tables only)."""
    counts = (f"(SELECT count(*) FROM {t}) AS {t}" for t in TABLES)  # noqa: S608
    rows = await db.fetch(url, "SELECT " + ", ".join(counts))
    return {table: int(rows[0][table]) for table in TABLES}


async def app_state(harness: Harness) -> tuple[object, ...]:
    """Everything a refused request must leave as it was: row counts, the
    invoice and intent rows, and how many requests QPay received."""
    url = database_of(harness)
    invoices = await db.fetch(
        url, "SELECT id, paid_amount, status, updated_at FROM invoices ORDER BY id"
    )
    intents = await db.fetch(
        url,
        "SELECT id, status, version, check_count, last_checked_at, updated_at"
        " FROM qpay_intents ORDER BY id",
    )
    return (
        await row_counts(url),
        [tuple(row) for row in invoices],
        [tuple(row) for row in intents],
        len(harness.simulator.requests),
    )
