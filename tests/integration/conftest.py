"""Integration fixtures: the app in process on a clean database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import SettingsFactory
from tests.harness import Harness, running_app


@pytest.fixture
async def harness(
    clean_db: str, make_settings: SettingsFactory
) -> AsyncIterator[Harness]:
    async with running_app(make_settings(database_url=clean_db)) as running:
        yield running
