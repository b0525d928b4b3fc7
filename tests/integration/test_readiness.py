"""readyz reports an unreachable database with 503 and a reason."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tests.conftest import SettingsFactory
from tests.harness import Harness, running_app

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


@pytest.mark.db
async def test_readyz_names_a_background_loop_that_keeps_dying(
    harness: Harness,
) -> None:
    runtime = harness.app.state.runtime
    deaths = 0

    async def broken() -> None:
        nonlocal deaths
        deaths += 1
        raise RuntimeError("a bug in every pass")

    before = await harness.client.get("/readyz")
    runtime.supervisor.start("ledger-sweeper", broken)
    while deaths < 3:
        await asyncio.sleep(0.05)
    after = await harness.client.get("/readyz")

    assert before.status_code == 200
    assert after.status_code == 503
    assert "background task ledger-sweeper is down" in after.json()["reasons"]
