"""Shared plumbing of the benchmarks: a database, the QPay simulator on a real
port (in this driver process, so its callback timestamps are at hand), the
service as child processes, websocket subscriber processes, and figures.

Everything runs on loopback. Each benchmark prints a table and writes JSON to
bench/results/ (or --out).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
from sqlalchemy.engine import make_url

from app import migrate
from app.staff_tokens import StaffTokens
from qpay.simulator import QPaySimulator

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
JWT_SECRET = "bench-secret-" + "b" * 40
CREATE_INVOICE = (
    "mutation($input: CreateInvoiceInput!) { createInvoice(input: $input) "
    "{ invoice { id } errors { code } } }"
)
CREATE_QPAY = (
    "mutation($input: CreateQPayInvoiceInput!) { createQPayInvoice(input: $input) "
    "{ intent { id qpayInvoiceId } clientSecret errors { code message } } }"
)


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a few seconds, for CI")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def raise_fd_limit(wanted: int = 65536) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentiles(values: Sequence[float]) -> dict[str, float | int]:
    """p50, p90, p99, max (ms) of `values` (seconds); nearest-rank."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def rank(p: float) -> float:
        index = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
        return ordered[index] * 1000

    return {
        "n": len(ordered),
        "p50_ms": round(rank(50), 2),
        "p90_ms": round(rank(90), 2),
        "p99_ms": round(rank(99), 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def write_results(out: Path, name: str, data: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    payload = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        **data,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def print_table(
    title: str, header: Sequence[str], rows: Sequence[Sequence[object]]
) -> None:
    widths = [
        max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)
    ]
    line = "  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True))
    sys.stdout.write(f"\n{title}\n{line}\n{'-' * len(line)}\n")
    for row in rows:
        sys.stdout.write(
            "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + "\n"
        )
    sys.stdout.flush()


# --- the database ---------------------------------------------------------------


@contextlib.contextmanager
def database() -> Any:
    """A fresh, migrated database: on BENCH_DATABASE_URL's (or
    TEST_DATABASE_URL's) server, else on an embedded PostgreSQL."""
    base = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    embedded = None
    tmp = None
    if not base:
        import tempfile

        from app.embedded import EmbeddedPostgres

        tmp = tempfile.TemporaryDirectory(prefix="qpg-bench-")
        embedded = EmbeddedPostgres(Path(tmp.name), database="postgres")
        embedded.start()
        base = embedded.url("postgres")
    name = f"qpg_bench_{uuid.uuid4().hex[:8]}"
    admin = (
        make_url(base)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )
    asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    try:
        yield url
    finally:
        asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if embedded is not None:
            embedded.stop()
        if tmp is not None:
            tmp.cleanup()


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def asyncpg_url(url: str) -> str:
    return (
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


# --- the simulator (in this process) and the service (child processes) ---------


@contextlib.asynccontextmanager
async def simulator_server() -> AsyncIterator[tuple[QPaySimulator, str]]:
    simulator = QPaySimulator()
    port = free_port()
    config = uvicorn.Config(
        simulator.app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="off",
        backlog=4096,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield simulator, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        await simulator.aclose()


@dataclass
class Service:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"


def service_env(database_url: str, simulator_url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "EVENTS_URL": "postgres",
        "QPAY_ENV": "sandbox",
        "QPAY_BASE_URL": f"{simulator_url}/v2",
        "QPAY_CLIENT_ID": "TEST_MERCHANT",
        "QPAY_CLIENT_SECRET": "123456",
        "QPAY_INVOICE_CODE": "TEST_INVOICE",
        "AUTH_JWT_SECRET": JWT_SECRET,
        "LOG_LEVEL": "WARNING",
        # Every load generator here connects from 127.0.0.1.
        "MAX_WEBSOCKETS_PER_ADDRESS": "100000",
        "MAX_CONNECTIONS": "100000",
        **extra,
    }


def spawn_serve(
    env: dict[str, str], log_dir: Path, name: str, *arguments: str
) -> Service:
    """`qpay-graph serve` (with `arguments`) on a free port, its output in
    log_dir/<name>.log and its DATA_DIR beside it; not waited for."""
    log_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = log_dir / f"{name}.log"
    process = subprocess.Popen(  # our own CLI
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), *arguments],
        env={
            **os.environ,
            **env,
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "DATA_DIR": str(log_dir / f"data-{name}"),
        },
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    return Service(f"http://127.0.0.1:{port}", process, log)


@contextlib.asynccontextmanager
async def services(
    count: int, env: dict[str, str], log_dir: Path
) -> AsyncIterator[list[Service]]:
    started: list[Service] = []
    try:
        for index in range(count):
            started.append(spawn_serve(env, log_dir, f"service-{index}"))
        for service in started:
            await wait_ready(service)
        yield started
    finally:
        for service in started:
            if service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        for service in started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(30)
            if service.process.poll() is None:
                service.process.kill()


async def wait_ready(service: Service, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise RuntimeError(
                    f"service exited:\n{service.log.read_text()[-2000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{service.url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"service not ready:\n{service.log.read_text()[-2000:]}")


def staff_client(base_url: str) -> httpx.AsyncClient:
    token = StaffTokens(JWT_SECRET).issue(subject="bench", ttl_seconds=3600)
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
        limits=httpx.Limits(max_connections=64),
    )


@dataclass(frozen=True)
class Intent:
    intent_id: str
    qpay_invoice_id: str
    secret: str


async def make_intents(
    base_url: str, count: int, concurrency: int = 16
) -> list[Intent]:
    semaphore = asyncio.Semaphore(concurrency)
    async with staff_client(base_url) as client:

        async def post(body: dict[str, Any]) -> httpx.Response:
            # A kept-alive connection the server just closed: send again
            # (createInvoice twice only makes a spare invoice; createQPayInvoice
            # for the same invoice and amount reuses the intent).
            for attempt in range(3):
                try:
                    return await client.post("/graphql", json=body)
                except httpx.TransportError:
                    if attempt == 2:
                        raise
                    await asyncio.sleep(0.2)
            raise AssertionError("unreachable")

        async def one(n: int) -> Intent:
            async with semaphore:
                invoice = await post(
                    {
                        "query": CREATE_INVOICE,
                        "variables": {"input": {"total": f"{1000 + n}.00"}},
                    }
                )
                invoice_id = invoice.json()["data"]["createInvoice"]["invoice"]["id"]
                created = await post(
                    {
                        "query": CREATE_QPAY,
                        "variables": {"input": {"invoiceId": invoice_id}},
                    }
                )
                payload = created.json()["data"]["createQPayInvoice"]
                for _ in range(2):
                    # QPAY_UNAVAILABLE is never retried by the service (the
                    # create may have reached QPay); a cashier presses again.
                    codes = {e["code"] for e in payload["errors"]}
                    if codes != {"QPAY_UNAVAILABLE"}:
                        break
                    await asyncio.sleep(0.5)
                    created = await post(
                        {
                            "query": CREATE_QPAY,
                            "variables": {"input": {"invoiceId": invoice_id}},
                        }
                    )
                    payload = created.json()["data"]["createQPayInvoice"]
                if payload["errors"]:
                    raise RuntimeError(str(payload["errors"]))
                return Intent(
                    payload["intent"]["id"],
                    payload["intent"]["qpayInvoiceId"],
                    payload["clientSecret"],
                )

        return list(await asyncio.gather(*(one(n) for n in range(count))))


# --- subscriber processes --------------------------------------------------------


@dataclass
class Subscribers:
    """Websocket subscriber processes (bench/clients.py), each watching some
    intents and reporting when each saw it PAID."""

    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    async def start(
        self,
        ws_urls: Sequence[str],
        intents: Sequence[Intent],
        workdir: Path,
        processes: int = 2,
        poll: dict[str, Any] | None = None,
        expect: dict[str, int] | None = None,
    ) -> None:
        """`expect`: per process index, how many PAID events to wait for."""
        workdir.mkdir(parents=True, exist_ok=True)
        chunks = [list(intents[i::processes]) for i in range(processes)]
        for index, chunk in enumerate(chunks):
            if not chunk:
                continue
            spec = workdir / f"subscribers-{index}.json"
            result = workdir / f"seen-{index}.json"
            spec.write_text(
                json.dumps(
                    {
                        "url": ws_urls[index % len(ws_urls)],
                        "intents": [
                            {"id": i.intent_id, "secret": i.secret} for i in chunk
                        ],
                        "result": str(result),
                        "expect": (expect or {}).get(str(index), len(chunk)),
                        **(poll or {}),
                    }
                )
            )
            self.files.append(result)
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.clients", str(spec)],
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    stderr=(workdir / f"clients-{index}.log").open("wb"),
                )
            )
        for process in self.processes:
            assert process.stdout is not None
            line = await asyncio.to_thread(process.stdout.readline)
            if not line.startswith(b"READY"):
                raise RuntimeError(f"subscriber process failed to start: {line!r}")

    async def results(self, within: float) -> dict[str, float]:
        """{intent id: time.time() when it was seen PAID} after all finish."""
        deadline = time.monotonic() + within
        for process in self.processes:
            remaining = max(1.0, deadline - time.monotonic())
            try:
                await asyncio.wait_for(asyncio.to_thread(process.wait), remaining)
            except TimeoutError:
                process.send_signal(signal.SIGINT)
                await asyncio.to_thread(process.wait)
        seen: dict[str, float] = {}
        for path in self.files:
            if path.exists():
                seen.update(json.loads(path.read_text()))
        return seen
