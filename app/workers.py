"""`serve --workers N`: N worker processes serving one listening socket.

The parent binds the socket once, then starts N workers (spawned, so each
is a fresh interpreter); each builds the app from the environment, as
`app.main:app_factory` does, and serves the shared socket with
DrainingServer. Everything the workers share goes through PostgreSQL (or
Redis) as it does between hosts: pushes (the event transport), the poller's
and the ledger sweep's leases, the right to check an intent now, e-Barimt
leases. What is per process is split: QPAY_MAX_CHECKS_PER_SECOND is divided
among the workers, so QPay sees the configured rate from the host.

Why not uvicorn's own supervisor (uvicorn.supervisors.Multiprocess): it runs
a plain uvicorn.Server in each worker, with no hook for the server class,
and ours must drain first (DrainingServer: on SIGTERM, stop claiming, finish
settlements, close websockets with 1001, then shut down). This one does what
serving needs and no more:

- SIGINT/SIGTERM to the parent: each worker gets one SIGTERM and drains; the
  parent waits for them (a second signal is passed on: the workers stop at
  once). Workers run in their own process group, so Ctrl-C in a terminal
  reaches them once, through the parent; under systemd use KillMode=mixed.
- A worker that dies after it started is replaced; one that fails to start
  (uvicorn's exit code 3) stops the whole service, since every replacement
  would fail the same way.
- A worker whose parent is gone (killed with SIGKILL) drains and exits.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

from prometheus_client.multiprocess import mark_process_dead
from uvicorn.config import STARTUP_FAILURE

from app.metrics import MULTIPROCESS_DIR
from app.server import DRAIN_TIMEOUT_SECONDS, GRACEFUL_SHUTDOWN_SECONDS
from app.settings import Settings

logger = logging.getLogger("qpay_graph")

# How long the parent waits for draining workers before killing them.
STOP_TIMEOUT_SECONDS = DRAIN_TIMEOUT_SECONDS + GRACEFUL_SHUTDOWN_SECONDS + 10
# A worker that dies this often within a minute is not replaced again.
MAX_RESTARTS_PER_MINUTE = 5


def shared_parts_problem(settings: Settings) -> str | None:
    """Why several worker processes cannot serve with these settings (a part
    that lives inside one process), or None. Said after "--workers N" by
    `serve`, and by app_factory, which cannot know how many workers its
    server starts."""
    if settings.resolved_qpay_env == "mock":
        return (
            "needs one QPay for every worker, and the built-in QPay simulator "
            "lives inside one process: use one worker (`qpay-graph serve`), or run "
            "`qpay-graph qpay-sim` once and point QPAY_ENV=sandbox and "
            "QPAY_BASE_URL=http://127.0.0.1:9000/v2 (TEST_MERCHANT / 123456 / "
            "TEST_INVOICE) at it"
        )
    if settings.events_url.startswith("memory://"):
        return (
            "needs EVENTS_URL=postgres or redis://: memory:// does not reach "
            "the other workers"
        )
    return None


def bind(host: str, port: int) -> socket.socket:
    """The listening socket every worker accepts on (uvicorn's own way)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def worker_environment(
    environ: Mapping[str, str], checks_per_second: float, workers: int
) -> dict[str, str]:
    """What a worker's settings are read from: the parent's environment, with
    its share of the QPay check rate."""
    share = checks_per_second / workers
    return {**environ, "QPAY_MAX_CHECKS_PER_SECOND": f"{share:g}"}


def run_worker(host: str, port: int, sock: socket.socket) -> None:
    """One worker (in the spawned process): the app from the environment,
    served by DrainingServer on the inherited socket."""
    os.setpgid(0, 0)  # Ctrl-C reaches us through the parent, once
    parent = os.getppid()
    from app.logging_setup import configure_logging
    from app.main import create_app
    from app.server import DrainingServer, uvicorn_config
    from app.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    server = DrainingServer(
        uvicorn_config(app, settings, host=host, port=port), app.state.runtime.drain
    )
    threading.Thread(
        target=_exit_with_parent, args=(parent,), name="parent-watch", daemon=True
    ).start()
    server.run(sockets=[sock])


def _exit_with_parent(parent: int) -> None:
    """SIGTERM ourselves (a drain) once the parent is gone."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


@contextlib.contextmanager
def metrics_directory() -> Iterator[None]:
    """PROMETHEUS_MULTIPROC_DIR for the workers (app/metrics.py): a fresh
    directory of this run, removed at the end; or the operator's own, emptied
    of an earlier run's files first, as prometheus_client requires."""
    given = os.environ.get(MULTIPROCESS_DIR)
    if given:
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        yield
        return
    with tempfile.TemporaryDirectory(prefix="qpay-graph-metrics-") as directory:
        os.environ[MULTIPROCESS_DIR] = directory
        try:
            yield
        finally:
            del os.environ[MULTIPROCESS_DIR]


class WorkerSupervisor:
    """Starts, watches and stops the workers (see the module docstring)."""

    def __init__(self, host: str, port: int, sock: socket.socket, workers: int):
        self.host, self.port, self.sock = host, port, sock
        self.count = workers
        self.context = multiprocessing.get_context("spawn")
        self.processes: list[BaseProcess] = []
        self.stopping = threading.Event()
        self.signals = 0
        self.restarts: list[float] = []
        self.failed = False

    def _start_one(self) -> BaseProcess:
        process = self.context.Process(
            target=run_worker,
            args=(self.host, self.port, self.sock),
            name="qpay-graph-worker",
        )
        process.start()
        logger.info("worker %s started", process.pid)
        return process

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signals += 1
        self.stopping.set()
        for process in self.processes:
            if process.pid is not None and process.exitcode is None:
                os.kill(process.pid, signal.SIGTERM)

    def run(self) -> int:
        """Serve until signalled; the exit status (1: a worker could not start)."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        with metrics_directory():
            self.processes = [self._start_one() for _ in range(self.count)]
            while not self.stopping.wait(0.5):
                self._replace_dead()
            self._join_all()
        return 1 if self.failed else 0

    def _replace_dead(self) -> None:
        for index, process in enumerate(self.processes):
            if process.exitcode is None or self.stopping.is_set():
                continue
            if process.exitcode == STARTUP_FAILURE or self._too_many_restarts():
                logger.error(
                    "worker %s exited with %s and will not be replaced: stopping",
                    process.pid,
                    process.exitcode,
                )
                self.failed = True
                self._on_signal(signal.SIGTERM, None)
                return
            logger.warning(
                "worker %s died (exit %s); starting another",
                process.pid,
                process.exitcode,
            )
            if process.pid is not None:
                # Its live gauges (open subscriptions, poller lag) go with it.
                mark_process_dead(process.pid)  # type: ignore[no-untyped-call]  # untyped in the library
            self.processes[index] = self._start_one()

    def _too_many_restarts(self) -> bool:
        now = time.monotonic()
        self.restarts = [t for t in self.restarts if now - t < 60.0]
        self.restarts.append(now)
        return len(self.restarts) > MAX_RESTARTS_PER_MINUTE

    def _join_all(self) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.exitcode is None:
                logger.warning("worker %s did not stop in time: killed", process.pid)
                process.kill()
                process.join()
