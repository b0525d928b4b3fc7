"""What an operator meets running `qpay-graph` (issue 16, items 1, 2 and 6):
several workers on one port, one-line failures, clean stops, help that
explains, a stale embedded PostgreSQL adopted and stopped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from app.staff_tokens import StaffTokens
from qpay.simulator import QPaySimulator
from tests.conftest import TEST_JWT_SECRET, drop_database, fresh_database
from tests.e2e.servers import first_mark_done, free_port, serve_in_process
from tests.e2e.ws import graphql_socket
from tests.gql import CREATE_INVOICE, CREATE_QPAY

pytestmark = [pytest.mark.e2e, pytest.mark.db, pytest.mark.anyio]

CLI = [sys.executable, "-m", "app.cli"]
SIMULATED_QPAY = {
    "QPAY_ENV": "sandbox",
    "QPAY_CLIENT_ID": "TEST_MERCHANT",
    "QPAY_CLIENT_SECRET": "123456",
    "QPAY_INVOICE_CODE": "TEST_INVOICE",
}


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This process's environment without QPay or database settings."""
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("QPAY_", "DATABASE_", "EVENTS_", "PUBLIC_"))
    }
    return {
        **kept,
        "AUTH_JWT_SECRET": TEST_JWT_SECRET,
        "DATA_DIR": str(tmp_path / "data"),
        "LOG_LEVEL": "INFO",
        **extra,
    }


def run_cli(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return run_to_end([*CLI, *args], env, timeout)


def run_to_end(
    command: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """`command` (our CLI, uvicorn's or gunicorn's) run to its end, output kept."""
    return subprocess.run(  # noqa: S603  # our own CLI, or a server's
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )


@pytest.fixture
def empty_database(postgres_server: tuple[str, object | None]) -> Iterator[str]:
    """A database with no tables at all."""
    admin_url, _ = postgres_server
    name = f"qpg_op_{uuid.uuid4().hex[:8]}"
    url = fresh_database(admin_url, name)
    try:
        yield url
    finally:
        drop_database(admin_url, name)


def test_a_busy_port_is_one_line_before_any_banner_or_token(
    tmp_path: Path, database_url: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        done = run_cli(
            ["serve", "--port", str(port)],
            environment(tmp_path, DATABASE_URL=database_url),
        )

    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"qpay-graph: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]
    assert "serving" not in done.stdout and "Bearer" not in done.stdout


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql+asyncpg://postgres@127.0.0.1:1/qpay", "cannot connect"),
        (None, "does not exist"),
    ],
)
@pytest.mark.parametrize("command", ["serve", "migrate", "reconcile"])
def test_a_database_out_of_reach_is_one_line_naming_database_url(
    tmp_path: Path,
    postgres_server: tuple[str, object | None],
    url: str | None,
    says: str,
    command: str,
) -> None:
    admin_url, _ = postgres_server
    missing = admin_url.rsplit("/", 1)[0] + f"/qpg_missing_{uuid.uuid4().hex[:6]}"
    arguments = ["--port", str(free_port())] if command == "serve" else []

    done = run_cli(
        [command, *arguments], environment(tmp_path, DATABASE_URL=url or missing)
    )

    assert done.returncode == 1
    (line,) = [
        text for text in done.stderr.strip().splitlines() if "DATABASE_URL" in text
    ]
    assert not [text for text in done.stderr.splitlines() if text.startswith(" ")]
    assert line.startswith("qpay-graph: DATABASE_URL (") and says in line
    assert "Traceback" not in done.stdout + done.stderr


def test_no_migrate_refuses_a_database_not_at_head(
    tmp_path: Path, empty_database: str
) -> None:
    done = run_cli(
        ["serve", "--no-migrate", "--port", str(free_port())],
        environment(tmp_path, DATABASE_URL=empty_database),
    )

    assert done.returncode == 2
    assert "run `qpay-graph migrate` first" in done.stderr
    assert "Traceback" not in done.stderr


def test_several_workers_with_the_built_in_simulator_are_refused_in_one_line(
    tmp_path: Path, database_url: str
) -> None:
    done = run_cli(
        ["serve", "--workers", "2", "--port", str(free_port())],
        environment(tmp_path, DATABASE_URL=database_url),
    )

    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "--workers 2 needs one QPay for every worker" in line


@pytest.mark.parametrize(
    "command", ["serve", "migrate", "token", "qpay-sim", "reconcile", "demo"]
)
def test_every_command_explains_its_options_defaults_and_settings(
    tmp_path: Path, command: str
) -> None:
    done = run_cli([command, "--help"], environment(tmp_path))

    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "DATABASE_URL" in text and ".env.example" in text
    for option in {"serve": ["--workers", "--no-migrate"], "token": ["--subject"]}.get(
        command, []
    ):
        assert option in text
    if command in ("serve", "qpay-sim"):
        assert "(default: 127.0.0.1)" in text


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGHUP])
async def test_ctrl_c_or_a_closed_terminal_stops_serve_cleanly_with_status_zero(
    tmp_path: Path, database_url: str, stop: signal.Signals
) -> None:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603  # our own CLI
        [*CLI, "serve", "--port", str(port)],
        env=environment(tmp_path, DATABASE_URL=database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        await ready(f"http://127.0.0.1:{port}", process)
        process.send_signal(stop)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == 0, output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output


async def ready(url: str, process: subprocess.Popen[Any], within: float = 60) -> None:
    async with httpx.AsyncClient() as client, asyncio.timeout(within):
        while True:
            if process.poll() is not None:
                raise AssertionError(f"exited with {process.returncode}")
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)


def workers_of(process: subprocess.Popen[Any]) -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process(process.pid).children()
        if "multiprocessing" in " ".join(child.cmdline())
        and "resource_tracker" not in " ".join(child.cmdline())
    ]


def serving(worker: psutil.Process, port: int) -> int:
    """How many established connections to `port` this worker holds."""
    return sum(
        1
        for c in worker.net_connections(kind="tcp")
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


@contextlib.asynccontextmanager
async def two_workers(
    tmp_path: Path, database_url: str, **extra: str
) -> AsyncIterator[tuple[QPaySimulator, str, int, subprocess.Popen[bytes]]]:
    """`serve --workers 2` on one simulator outside it, ready: the simulator,
    the base URL, the port and the supervisor (stopped with SIGTERM at the
    end if the test has not stopped it)."""
    simulator = QPaySimulator()
    async with serve_in_process(simulator.app) as simulator_url:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = environment(
            tmp_path,
            DATABASE_URL=database_url,
            QPAY_BASE_URL=f"{simulator_url}/v2",
            PUBLIC_BASE_URL=base,
            **extra,
            **SIMULATED_QPAY,
        )
        with (tmp_path / "serve.log").open("w") as log:
            process = subprocess.Popen(  # noqa: S603  # our own CLI
                [*CLI, "serve", "--workers", "2", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            await ready(base, process)
            yield simulator, base, port, process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=90)
                except subprocess.TimeoutExpired:
                    process.kill()
    await simulator.aclose()


async def test_two_workers_share_the_port_and_carry_a_payment_across(
    tmp_path: Path, clean_db: str
) -> None:
    # Pushes only: no safety-net re-read within the test.
    async with two_workers(tmp_path, clean_db, WATCH_REFRESH_SECONDS="600") as (
        simulator,
        base,
        port,
        process,
    ):
        workers = workers_of(process)
        assert len(workers) == 2
        intent, secret = await new_intent(base)
        async with contextlib.AsyncExitStack() as sockets:
            watched = await watch_on_both_workers(
                sockets, base, intent["id"], secret, workers, port
            )
            await first_mark_done(clean_db, intent["id"])
            simulator.pay(intent["qpayInvoiceId"])  # its callback: one worker

            statuses = await asyncio.gather(
                *(
                    sub.wait_for(lambda e: e["intent"]["status"] == "PAID", within=30)
                    for sub in watched
                )
            )
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=90)

    assert all(s["intent"]["status"] == "PAID" for s in statuses)
    assert status == 0, (tmp_path / "serve.log").read_text()[-3000:]
    assert not any(w.is_running() for w in workers)


def sample(text: str, name: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.split()[-1])


async def test_metrics_of_two_workers_answer_for_the_whole_service(
    tmp_path: Path, clean_db: str
) -> None:
    async with two_workers(tmp_path, clean_db) as (_, base, _, process):
        workers = workers_of(process)
        # A connection each: the kernel hands them to both workers.
        for _ in range(40):
            async with httpx.AsyncClient(base_url=base) as client:
                assert (await client.get("/healthz")).status_code == 200
        scrapes = []
        for _ in range(6):
            async with httpx.AsyncClient(base_url=base) as client:
                scrapes.append((await client.get("/metrics")).text)

    healthz = (
        "http_request_duration_seconds_count"
        '{method="GET",route="/healthz",status="200"}'
    )
    # Every scrape counts all 40, whichever worker answered it.
    assert [sample(text, healthz) for text in scrapes] == [40.0] * 6
    assert {sample(text, "qpay_graph_workers") for text in scrapes} == {2.0}
    cpu = [sample(text, "process_cpu_seconds_total") for text in scrapes]
    assert cpu == sorted(cpu)  # never a worker's own, smaller figure
    assert len(workers) == 2


async def new_intent(base: str) -> tuple[dict[str, Any], str]:
    token = StaffTokens(TEST_JWT_SECRET).issue()
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        made = await client.post(
            "/graphql",
            json={"query": CREATE_INVOICE, "variables": {"input": {"total": "900.00"}}},
        )
        invoice_id = made.json()["data"]["createInvoice"]["invoice"]["id"]
        created = await client.post(
            "/graphql",
            json={
                "query": CREATE_QPAY,
                "variables": {"input": {"invoiceId": invoice_id}},
            },
        )
    payload = created.json()["data"]["createQPayInvoice"]
    return payload["intent"], payload["clientSecret"]


async def watch_on_both_workers(
    sockets: contextlib.AsyncExitStack,
    base: str,
    intent_id: str,
    secret: str,
    workers: list[psutil.Process],
    port: int,
) -> list[Any]:
    """Subscribers, opened until each worker serves at least one of them
    (the kernel spreads connections over the workers' accept calls)."""
    ws_url = base.replace("http://", "ws://") + "/graphql"
    watched: list[Any] = []
    for _ in range(40):
        ws = await sockets.enter_async_context(graphql_socket(ws_url))
        sub = await ws.payment_status(intent_id, secret)
        await sub.wait_for(lambda e: e["intent"]["status"] == "PENDING")
        watched.append(sub)
        if all(serving(worker, port) for worker in workers):
            return watched
    raise AssertionError("every subscriber landed on one worker")


def test_a_stale_embedded_postgres_is_adopted_and_stopped(tmp_path: Path) -> None:
    data = tmp_path / "data"
    starter = subprocess.Popen(  # noqa: S603  # a crashed `serve`, in effect
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from app.embedded import EmbeddedPostgres; "
            f"EmbeddedPostgres(Path({str(data)!r})).start(); "
            "print('up', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert starter.stdout is not None
    assert starter.stdout.readline().strip() == "up"
    starter.kill()  # SIGKILL: its exit hooks never run
    starter.wait()
    starter.stdout.close()
    pid_file = data / "pg" / "postmaster.pid"
    postmaster = int(pid_file.read_text().splitlines()[0])
    assert psutil.pid_exists(postmaster)  # left running, as after a crash

    from app.embedded import EmbeddedPostgres

    adopted = EmbeddedPostgres(data)
    adopted.start()
    took_over = adopted.started_here
    adopted.stop()

    assert took_over
    assert not psutil.pid_exists(postmaster) or (
        psutil.Process(postmaster).status() == psutil.STATUS_ZOMBIE
    )
    assert not (data / "pg.owner").exists()


def uvicorn_factory(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "app.main:app_factory",
        "--port",
        str(port),
    ]


async def test_uvicorn_imports_the_app_factory_from_the_environment(
    tmp_path: Path, database_url: str
) -> None:
    port = free_port()
    async with serve_in_process(QPaySimulator().app) as simulator_url:
        env = environment(
            tmp_path,
            DATABASE_URL=database_url,
            QPAY_BASE_URL=f"{simulator_url}/v2",
            **SIMULATED_QPAY,
        )
        process = subprocess.Popen(  # noqa: S603  # uvicorn's own CLI
            uvicorn_factory(port),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            await ready(f"http://127.0.0.1:{port}", process)
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()

    assert "Application startup complete" in output
    assert "Traceback" not in output


def gunicorn_factory(port: int) -> list[str]:
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    return [
        gunicorn,
        "app.main:app_factory()",
        "--worker-class",
        "uvicorn_worker.UvicornWorker",
        "--workers",
        "2",
        "--bind",
        f"127.0.0.1:{port}",
    ]


async def test_gunicorn_serves_the_app_factory_in_two_workers(
    tmp_path: Path, database_url: str
) -> None:
    port = free_port()
    async with serve_in_process(QPaySimulator().app) as simulator_url:
        env = environment(
            tmp_path,
            DATABASE_URL=database_url,
            QPAY_BASE_URL=f"{simulator_url}/v2",
            **SIMULATED_QPAY,
        )
        log = tmp_path / "gunicorn.log"
        with log.open("w") as out:
            process = subprocess.Popen(  # noqa: S603  # gunicorn's own CLI
                gunicorn_factory(port), env=env, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            await ready(f"http://127.0.0.1:{port}", process)
            async with asyncio.timeout(60):  # the other worker's app too
                while log.read_text().count("Application startup complete") < 2:
                    await asyncio.sleep(0.1)
            workers = psutil.Process(process.pid).children()
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=90)
        finally:
            if process.poll() is None:
                process.kill()
    output = log.read_text()

    assert len(workers) == 2, output
    assert process.returncode == 0, output
    assert "Traceback" not in output


def test_gunicorn_stops_when_the_factory_refuses_the_built_in_simulator(
    tmp_path: Path, database_url: str
) -> None:
    env = environment(tmp_path, DATABASE_URL=database_url)
    result = run_to_end(gunicorn_factory(free_port()), env, timeout=90)

    assert result.returncode != 0
    assert "app.main:app_factory needs one QPay for every worker" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ({}, "the built-in QPay simulator lives inside one process"),
        (
            {"EVENTS_URL": "memory://", **SIMULATED_QPAY},
            "memory:// does not reach the other workers",
        ),
    ],
)
def test_the_app_factory_refuses_parts_one_process_keeps_in_one_line(
    tmp_path: Path, database_url: str, setting: dict[str, str], said: str
) -> None:
    # A server may call the factory in several workers (uvicorn --workers,
    # gunicorn): each would get its own simulator or its own event hub.
    env = environment(tmp_path, DATABASE_URL=database_url, **setting)
    result = run_to_end(uvicorn_factory(free_port()), env, timeout=60)

    assert result.returncode != 0
    line = "qpay-graph: app.main:app_factory needs"
    refusals = [text for text in result.stderr.splitlines() if text.startswith(line)]
    assert len(refusals) == 1 and said in refusals[0]
    assert "Traceback" not in result.stderr + result.stdout
