"""readyz reports an unreachable database with 503 and a reason."""

from __future__ import annotations

import socket

import pytest

from tests.conftest import SettingsFactory
from tests.harness import running_app

pytestmark = pytest.mark.anyio


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_readyz_is_503_with_a_reason_when_the_database_is_unreachable(
    make_settings: SettingsFactory,
) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/nothing"

    async with running_app(make_settings(database_url=url)) as harness:
        ready = await harness.client.get("/readyz")
        health = await harness.client.get("/healthz")

    assert ready.status_code == 503
    assert any("database unreachable" in r for r in ready.json()["reasons"])
    assert health.status_code == 200
