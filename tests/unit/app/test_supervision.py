"""Background loops are restarted when they die, and reported while down."""

from __future__ import annotations

import asyncio

import pytest

from app.supervision import Supervisor

pytestmark = pytest.mark.anyio


async def test_a_loop_that_dies_is_logged_and_started_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    supervisor = Supervisor(stop, base_delay=0.001)
    runs: list[int] = []

    async def flaky() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError("a bug in one pass")
        await stop.wait()

    supervisor.start("poller", flaky)
    while len(runs) < 3:
        await asyncio.sleep(0.001)
    await supervisor.stop(1.0)

    assert len(runs) == 3
    died = [r for r in caplog.records if "poller died" in r.getMessage()]
    assert len(died) == 2 and all(r.exc_info or r.exc_text for r in died)


async def test_a_loop_that_keeps_dying_is_reported_down() -> None:
    stop = asyncio.Event()
    supervisor = Supervisor(stop, base_delay=0.001, max_delay=0.001)
    deaths = 0

    async def broken() -> None:
        nonlocal deaths
        deaths += 1
        raise RuntimeError("always")

    async def healthy() -> None:
        await stop.wait()

    supervisor.start("ledger-sweeper", broken)
    supervisor.start("watch-keeper", healthy)
    while deaths < 5:
        await asyncio.sleep(0.001)

    assert supervisor.down() == ["ledger-sweeper"]
    await supervisor.stop(1.0)


async def test_stopping_ends_loops_without_restarting_them() -> None:
    stop = asyncio.Event()
    supervisor = Supervisor(stop, base_delay=0.001)
    runs = 0

    async def loop() -> None:
        nonlocal runs
        runs += 1
        await stop.wait()

    supervisor.start("poller", loop)
    await asyncio.sleep(0.01)
    await supervisor.stop(1.0)

    assert runs == 1
    assert all(task.done() for task in supervisor.tasks)
