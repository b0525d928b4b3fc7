"""Servers on real loopback ports: uvicorn in this process, or `qpay-graph
serve` as a child process (for the multi-process tests)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID

import asyncpg
import httpx
import uvicorn
from starlette.types import ASGIApp

from tests import db


async def first_mark_done(database_url: str, intent_id: str) -> None:
    """Wait until a process's watch keeper has marked the intent watched.

    That first mark also hands its subscribers the intent's version: a
    payment settled before it would reach them that way, without a push.
    A test of pushes pays after it (with WATCH_REFRESH_SECONDS past the
    test), so only a push can carry the payment."""
    connection = await asyncpg.connect(db.asyncpg_url(database_url))
    try:
        async with asyncio.timeout(30):
            while not await connection.fetchval(
                "SELECT watched_until IS NOT NULL FROM qpay_intents WHERE id = $1",
                UUID(intent_id),
            ):
                await asyncio.sleep(0.05)
    finally:
        await connection.close()
    # The keeper delivers the versions after its commit, and a second
    # process's keeper marks its own subscribers' intent within a round
    # (app/watching.py: ROUND_SECONDS, then 0.2 s): let both pass.
    await asyncio.sleep(1.5)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def serve_in_process(app: ASGIApp, port: int | None = None) -> AsyncIterator[str]:
    """uvicorn on 127.0.0.1 in this event loop; yields the base URL."""
    chosen = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=chosen,
        log_config=None,
        lifespan="on",
        ws_per_message_deflate=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(20):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{chosen}"
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)


class ServiceProcess:
    """`python -m app.cli serve` in a child process."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env = env
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        environment = {**os.environ, **self.env, "PUBLIC_BASE_URL": self.url}
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(  # noqa: S603  # our own CLI
                [
                    sys.executable,
                    "-m",
                    "app.cli",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                env=environment,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        await self.wait_ready()

    async def wait_ready(self, within: float = 60.0) -> None:
        async with httpx.AsyncClient() as client, asyncio.timeout(within):
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"service exited: {self.log.read_text()[-3000:]}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.get(f"{self.url}/readyz")
                    if response.status_code == 200:
                        return
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    async def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.to_thread(self.process.wait), 30)
        except TimeoutError:
            self.kill()


class ThrowawayRedis:
    """A redis-server of our own on a free port (nothing kept on disk), which a
    test may stop and start again to play an outage."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("no redis-server binary")
        self._process = subprocess.Popen(  # noqa: S603 - a fixed command
            [
                executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            async with asyncio.timeout(10):
                while True:
                    with socket.socket() as probe:
                        if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                            return
                    await asyncio.sleep(0.05)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None
