"""Where a server's own CPU goes: py-spy on its process, own samples by library.

Used by `python -m bench.floor --profile` for both the floor and the service
at 50 payments/s. py-spy (the `bench` extra, or on PATH, or PY_SPY) samples
the process 250 times a second, Python frames only, without pausing it. Own
samples (the innermost frame of each stack) are exact where inclusive ones
are not: SQLAlchemy's greenlets and asyncio's task steps cut the stacks
py-spy reconstructs.
"""

from __future__ import annotations

import asyncio
import collections
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import ROOT, Service


def _ours(package: str) -> str:
    return f"{ROOT}/{package}/"


# First match wins: our packages before the libraries, the event loop last.
LIBRARIES = (
    ("our code: app/", (_ours("app"),)),
    ("our code: graph/", (_ours("graph"),)),
    ("our code: domain/", (_ours("domain"),)),
    ("our code: persistence/", (_ours("persistence"),)),
    ("our code: qpay/", (_ours("qpay"),)),
    ("the floor itself (bench/floor.py)", ("bench/floor.py",)),
    ("SQLAlchemy (Core, its asyncpg dialect, greenlet)", ("/sqlalchemy/", "greenlet")),
    ("asyncpg", ("/asyncpg/",)),
    (
        "httpx + httpcore + h11 + anyio (the QPay check)",
        ("/httpx/", "/httpcore/", "/h11/", "/anyio/", "/sniffio/"),
    ),
    ("Strawberry + graphql-core", ("/strawberry/", "/graphql/")),
    ("Starlette", ("/starlette/",)),
    ("uvicorn (HTTP and websocket protocols)", ("/uvicorn/",)),
    ("websockets", ("/websockets/",)),
    ("prometheus-client", ("/prometheus_client/",)),
    ("pydantic", ("/pydantic/", "pydantic_core")),
    ("json", ("/json/",)),
    ("logging", ("/logging/",)),
    # Runner.run: what uvloop does in C with no Python frame above it (epoll,
    # socket reads and writes, asyncpg's and httptools' Cython parsing).
    ("asyncio / the event loop (native work)", ("/asyncio/", "uvloop")),
)
REST = "the rest (standard library, builtins)"


def py_spy() -> str | None:
    """PY_SPY, the bench extra's (beside this Python), or one on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    if os.environ.get("PY_SPY"):
        return os.environ["PY_SPY"]
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def start_py_spy(server: Service, out: Path) -> subprocess.Popen[bytes]:
    spy = py_spy()
    assert spy is not None
    process = subprocess.Popen(  # a profiler named by PATH or PY_SPY
        [
            spy,
            "record",
            "--pid",
            str(server.process.pid),
            "--rate",
            "250",
            "--format",
            "raw",
            "--output",
            str(out),
            "--full-filenames",
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    await asyncio.sleep(0.5)  # attached before the first payment
    return process


async def stop_py_spy(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    await asyncio.to_thread(process.wait, 30)


def library_of(frame: str) -> str:
    for name, needles in LIBRARIES:
        if any(needle in frame for needle in needles):
            return name
    return REST


def samples(raw: Path) -> Iterator[tuple[list[str], int]]:
    """py-spy's raw format: each line a stack (outermost frame first, `;`
    between frames) and its sample count; anything else is skipped."""
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield stack.split(";"), int(count)


def breakdown(raw: Path, cpu_ms_per_payment: float | None = None) -> dict[str, Any]:
    """Own CPU samples (the innermost frame of each stack) by library, and
    the ten frames with most own samples; with `cpu_ms_per_payment` (measured
    in the same run), each library's share in ms per payment too."""
    by_library: collections.Counter[str] = collections.Counter()
    by_frame: collections.Counter[str] = collections.Counter()
    total = 0
    for frames, count in samples(raw):
        innermost = frames[-1]
        total += count
        by_library[library_of(innermost)] += count
        by_frame[innermost] += count

    def share(n: int) -> float:
        return round(100 * n / total, 1) if total else 0.0

    def ms(n: int) -> float | None:
        if cpu_ms_per_payment is None or not total:
            return None
        return round(cpu_ms_per_payment * n / total, 2)

    return {
        "samples": total,
        "cpu_ms_per_payment": cpu_ms_per_payment,
        "by_library": [(name, share(n), ms(n)) for name, n in by_library.most_common()],
        "top_frames": [(name, share(n)) for name, n in by_frame.most_common(10)],
    }


def our_functions(raw: Path, top: int = 15) -> list[tuple[str, float]]:
    """Our own functions (app/, domain/, persistence/, qpay/, graph/) by
    inclusive share: the samples whose stack holds them, each stack counted
    once per function. Where the profile says which feature the libraries'
    own samples serve (the poller's check, the release of its lease...)."""
    ours = tuple(_ours(p) for p in ("app", "domain", "persistence", "qpay", "graph"))
    entry = _ours("app") + "cli.py"
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for frames, count in samples(raw):
        total += count
        names = {
            frame.split(" (", 1)[0]
            for frame in frames
            if any(package in frame for package in ours)
            and entry not in frame  # serve(): under every sample
        }
        for name in names:
            inclusive[name] += count
    return [
        (name, round(100 * n / total, 1) if total else 0.0)
        for name, n in inclusive.most_common(top)
    ]
