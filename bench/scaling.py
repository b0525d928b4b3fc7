"""scaling: payments per second and push p99 against `serve --workers N`
(issue 18, item 4), and what a host with more cores would give, projected
from the measured CPU per payment.

For N in (1, 2): ONE `qpay-graph serve --workers N` child (push_latency's
environment, EVENTS_URL=postgres, the QPay simulator in this process on its
own port). At each rate, intents are made, each watched by its own websocket
subscriber (bench/clients.py, two processes, on the one port), and 3 s later
the simulator pays them at R payments/s for 6 s (2 s with --quick); latency
runs from the callback sent to the subscriber holding the settled PAID event,
exactly as push_latency. A payment not seen within 60 s is missing; a rate is
kept up when none is missing and p99 is under 1 s.

CPU (user + system) from the first payment to the last subscriber's report,
by part, per payment:

    service      the supervisor and every process under it (its workers),
                 summed per process, so a worker replaced mid-window counts;
    postgres     the PostgreSQL server processes: the postmaster, its
                 background processes and the backends of the bench database
                 (backends of other databases are left out);
    driver       this process: the QPay simulator, the payer and the sampler;
    subscribers  the subscriber processes (exact: their rusage once reaped);
    other        the whole machine's busy time less all of the above (anything
                 else that ran: a non-zero figure means a shared machine).

The projection: cores per 100 payments/s = CPU ms per payment x 100 / 1000,
for the service, and for the service with PostgreSQL on the same host; the
driver's and the subscribers' shares are load generation, excluded and shown.

    python -m bench.scaling [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy.engine import make_url

from bench.common import (
    Intent,
    Service,
    Subscribers,
    arguments,
    database,
    make_intents,
    percentiles,
    print_table,
    raise_fd_limit,
    service_env,
    simulator_server,
    spawn_serve,
    wait_ready,
    write_results,
)
from bench.push_latency import SETTLE_SECONDS, latencies, pay_at_rate

WORKERS = (1, 2)
RATES = [25, 50, 100, 150, 200]
QUICK_RATES = [25]
WITHIN_SECONDS = 60.0
KEPT_UP_P99_MS = 1000.0
SAMPLE_EVERY = 0.5
PROJECTED_CORES = (4, 8, 16)
# A backend's process title names its client: "... user db 127.0.0.1(5432) idle".
BACKEND = re.compile(r"\d+\.\d+\.\d+\.\d+\(\d+\)|\[local\]|[0-9a-f:]+\(\d+\)")

Times = dict[int, float]


def cpu_of(process: psutil.Process) -> float | None:
    with contextlib.suppress(psutil.Error):
        times = process.cpu_times()
        return float(times.user + times.system)
    return None


def tree_cpu(root: int) -> Times:
    """{pid: CPU s} of `root` and every process under it."""
    found: Times = {}
    with contextlib.suppress(psutil.Error):
        top = psutil.Process(root)
        for process in [top, *top.children(recursive=True)]:
            value = cpu_of(process)
            if value is not None:
                found[process.pid] = value
    return found


def postgres_cpu(database_name: str) -> Times:
    """{pid: CPU s} of the PostgreSQL server's processes that serve this run:
    all but the client backends of other databases."""
    found: Times = {}
    for process in psutil.process_iter(["name"]):
        if process.info["name"] != "postgres":
            continue
        with contextlib.suppress(psutil.Error):
            title = " ".join(process.cmdline())
            if BACKEND.search(title) and f" {database_name} " not in title:
                continue
            value = cpu_of(process)
            if value is not None:
                found[process.pid] = value
    return found


def machine_busy() -> float:
    """CPU s the whole machine has been busy (every core), so far."""
    times = psutil.cpu_times()
    # guest time is already inside user; steal is not this machine's work.
    return float(
        times.user
        + times.nice
        + times.system
        + getattr(times, "irq", 0.0)
        + getattr(times, "softirq", 0.0)
    )


def reaped_children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Window:
    """CPU by part over one payment window; processes that come and go in the
    window count from their first sample (or from 0 if born in it)."""

    service_pid: int
    subscriber_pids: list[int]
    database_name: str
    start: dict[str, Times] = field(default_factory=dict)
    last: dict[str, Times] = field(default_factory=dict)
    machine_start: float = 0.0
    reaped_start: float = 0.0
    subscribers_start: float = 0.0
    wall_start: float = 0.0

    def _sample(self) -> dict[str, Times]:
        return {
            "service": tree_cpu(self.service_pid),
            "postgres": postgres_cpu(self.database_name),
            "driver": tree_cpu_self(),
        }

    def begin(self) -> None:
        self.start = self._sample()
        self.last = {part: dict(times) for part, times in self.start.items()}
        self.subscribers_start = sum(
            v for pid in self.subscriber_pids for v in tree_cpu(pid).values()
        )
        self.reaped_start = reaped_children_cpu()
        self.machine_start = machine_busy()
        self.wall_start = time.monotonic()

    def sample(self) -> None:
        for part, times in self._sample().items():
            self.last[part].update(times)

    def end(self) -> dict[str, float]:
        """CPU s by part since begin(); call once the subscribers are reaped."""
        self.sample()
        wall = time.monotonic() - self.wall_start
        used = {
            part: sum(
                value - self.start[part].get(pid, 0.0) for pid, value in times.items()
            )
            for part, times in self.last.items()
        }
        used["subscribers"] = (
            reaped_children_cpu() - self.reaped_start - self.subscribers_start
        )
        machine = machine_busy() - self.machine_start
        used["other"] = max(0.0, machine - sum(used.values()))
        used["machine"] = machine
        used["wall"] = wall
        return used

    async def sample_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAMPLE_EVERY)
            self.sample()


def tree_cpu_self() -> Times:
    """This process alone (its children are the service and the subscribers)."""
    value = cpu_of(psutil.Process())
    return {} if value is None else {os.getpid(): value}


# --- the service: one `serve --workers N` ----------------------------------------


@contextlib.asynccontextmanager
async def supervisor(
    workers: int, env: dict[str, str], log_dir: Path
) -> AsyncIterator[Service]:
    """bench.common.services() with --workers: one supervisor, N workers."""
    service = spawn_serve(
        env, log_dir, f"serve-workers-{workers}", "--workers", str(workers)
    )
    process = service.process
    descendants: list[psutil.Process] = []
    try:
        await wait_ready(service)
        descendants = psutil.Process(process.pid).children(recursive=True)
        yield service
    finally:
        with contextlib.suppress(psutil.Error):
            descendants += psutil.Process(process.pid).children(recursive=True)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(process.wait, 60)
        if process.poll() is None:
            process.kill()
            process.wait()
        for child in descendants:  # workers of ours that outlived the supervisor
            with contextlib.suppress(psutil.Error):
                if child.is_running():
                    child.kill()


def worker_count(service: Service) -> int:
    with contextlib.suppress(psutil.Error):
        children = psutil.Process(service.process.pid).children()
        return sum(
            1 for c in children if "resource_tracker" not in " ".join(c.cmdline())
        )
    return 0


async def quiesce(service: Service, within: float = 60.0) -> float:
    """Wait until the service uses under a tenth of a core (a backlog of a
    saturated rate must not run into the next one); the seconds waited."""
    started = time.monotonic()
    before = sum(tree_cpu(service.process.pid).values())
    while time.monotonic() - started < within:
        await asyncio.sleep(1.0)
        now = sum(tree_cpu(service.process.pid).values())
        if now - before < 0.1:
            break
        before = now
    return round(time.monotonic() - started, 1)


# --- one rate --------------------------------------------------------------------


async def one_rate(
    simulator: Any,
    service: Service,
    workers: int,
    rate: int,
    seconds: float,
    database_name: str,
    workdir: Path,
) -> dict[str, Any]:
    count = max(10, int(rate * seconds))
    intents: list[Intent] = await make_intents(service.url, count)
    subscribers = Subscribers()
    await subscribers.start([service.ws_url], intents, workdir / f"{workers}-{rate}")
    await asyncio.sleep(SETTLE_SECONDS)
    simulator.callbacks_sent.clear()
    window = Window(
        service.process.pid, [p.pid for p in subscribers.processes], database_name
    )
    window.begin()
    stop = asyncio.Event()
    sampler = asyncio.create_task(window.sample_until(stop))
    await pay_at_rate(simulator, intents, rate)
    seen = await subscribers.results(within=WITHIN_SECONDS)
    stop.set()
    await sampler
    used = window.end()
    values = latencies(simulator, intents, seen)
    sent = [c["sent_at"] for c in simulator.callbacks_sent]
    span = (max(seen.values()) - min(sent)) if seen and sent else 0.0
    stats = percentiles(values)
    missing = count - len(values)
    kept_up = missing == 0 and float(stats.get("p99_ms", 0.0)) < KEPT_UP_P99_MS

    def per_payment(part: str) -> float:
        return round(1000 * used[part] / count, 2)

    return {
        "workers": workers,
        "rate": rate,
        "payments": count,
        "missing": missing,
        **stats,
        "achieved_per_s": round(len(values) / span, 1) if span > 0 else 0.0,
        "kept_up": kept_up,
        "cpu_ms_per_payment": {
            part: per_payment(part)
            for part in ("service", "postgres", "driver", "subscribers", "other")
        },
        "cores_used": {
            part: round(used[part] / used["wall"], 2)
            for part in ("service", "postgres", "machine")
        },
        "window_s": round(used["wall"], 2),
        "latencies_s": values,
    }


async def measure(
    workers: int,
    rates: list[int],
    seconds: float,
    db_url: str,
    workdir: Path,
) -> list[dict[str, Any]]:
    database_name = make_url(db_url).database or ""
    rows = []
    async with simulator_server() as (simulator, simulator_url):
        env = service_env(db_url, simulator_url, EVENTS_URL="postgres")
        async with supervisor(workers, env, workdir / f"workers-{workers}") as service:
            # --workers 1 serves in the supervisor's own process.
            running = worker_count(service)
            if running != (workers if workers > 1 else 0):
                raise RuntimeError(
                    f"{running} worker processes for --workers {workers}"
                )
            for rate in rates:
                waited = await quiesce(service)
                row = await one_rate(
                    simulator, service, workers, rate, seconds, database_name, workdir
                )
                row["quiesced_s"] = waited
                rows.append(row)
                progress(row)
    return rows


def progress(row: dict[str, Any]) -> None:
    cpu = row["cpu_ms_per_payment"]
    sys.stdout.write(
        f"workers={row['workers']} rate={row['rate']}/s missing={row['missing']} "
        f"p50={row.get('p50_ms')} p99={row.get('p99_ms')} ms "
        f"achieved={row['achieved_per_s']}/s service={cpu['service']} "
        f"postgres={cpu['postgres']} ms/payment kept_up={row['kept_up']}\n"
    )
    sys.stdout.flush()


# --- the summary and the projection ----------------------------------------------


def summarize(rows: list[dict[str, Any]], cpus: int) -> list[dict[str, Any]]:
    summary = []
    for workers in sorted({r["workers"] for r in rows}):
        mine = [r for r in rows if r["workers"] == workers]
        kept = [r for r in mine if r["kept_up"]]
        at_50 = next((r for r in mine if r["rate"] == 50), None)
        best = max(kept, key=lambda r: r["rate"]) if kept else None
        entry: dict[str, Any] = {
            "workers": workers,
            "sustained_per_s": best["rate"] if best else 0,
            "first_not_kept_up": min(
                (r["rate"] for r in mine if not r["kept_up"]), default=None
            ),
            "p99_ms_at_50": at_50.get("p99_ms") if at_50 else None,
            "p50_ms_at_50": at_50.get("p50_ms") if at_50 else None,
        }
        if best is not None:
            cpu = best["cpu_ms_per_payment"]
            service, postgres = cpu["service"], cpu["postgres"]
            # The share of this machine that was busy at the highest rate it
            # kept up with: what a host can be loaded to, measured here.
            usable = best["cores_used"]["machine"] / cpus
            entry.update(
                {
                    "at_rate": best["rate"],
                    "service_ms": service,
                    "postgres_ms": postgres,
                    "excluded_ms": {
                        "driver (simulator, payer)": cpu["driver"],
                        "subscribers": cpu["subscribers"],
                        "other": cpu["other"],
                    },
                    "service_cores_per_100": round(service * 100 / 1000, 2),
                    "with_postgres_cores_per_100": round(
                        (service + postgres) * 100 / 1000, 2
                    ),
                    "machine_busy_fraction": round(usable, 2),
                    "projected_per_s": {
                        str(cores): {
                            "ceiling": round(cores * 1000 / (service + postgres)),
                            "at_measured_busy": round(
                                cores * usable * 1000 / (service + postgres)
                            ),
                            "service_alone_ceiling": round(cores * 1000 / service),
                        }
                        for cores in PROJECTED_CORES
                    },
                }
            )
        summary.append(entry)
    return summary


def report(rows: list[dict[str, Any]], summary: list[dict[str, Any]]) -> None:
    print_table(
        "scaling: serve --workers N; callback sent -> subscriber holds settled PAID",
        [
            "N",
            "rate/s",
            "n",
            "missing",
            "p50 ms",
            "p99 ms",
            "achieved/s",
            "service ms",
            "pg ms",
            "driver ms",
            "subs ms",
            "other ms",
            "service cores",
            "machine cores",
            "kept up",
        ],
        [
            [
                r["workers"],
                r["rate"],
                r["payments"],
                r["missing"],
                r.get("p50_ms"),
                r.get("p99_ms"),
                r["achieved_per_s"],
                r["cpu_ms_per_payment"]["service"],
                r["cpu_ms_per_payment"]["postgres"],
                r["cpu_ms_per_payment"]["driver"],
                r["cpu_ms_per_payment"]["subscribers"],
                r["cpu_ms_per_payment"]["other"],
                r["cores_used"]["service"],
                r["cores_used"]["machine"],
                "yes" if r["kept_up"] else "no",
            ]
            for r in rows
        ],
    )
    print_table(
        "per N: sustained rate; CPU per payment at it; cores per 100 payments/s",
        [
            "N",
            "sustained/s",
            "p99 ms at 50/s",
            "service ms",
            "pg ms",
            "service cores/100/s",
            "+pg cores/100/s",
            "machine busy",
        ],
        [
            [
                s["workers"],
                s["sustained_per_s"],
                s["p99_ms_at_50"],
                s.get("service_ms"),
                s.get("postgres_ms"),
                s.get("service_cores_per_100"),
                s.get("with_postgres_cores_per_100"),
                s.get("machine_busy_fraction"),
            ]
            for s in summary
        ],
    )
    projected = [s for s in summary if "projected_per_s" in s]
    if projected:
        print_table(
            "projection: payments/s on a host whose cores run the service and "
            "PostgreSQL only (load generation excluded)",
            [
                "from N",
                "cores",
                "ceiling (100% busy)",
                "at the busy fraction measured",
                "service alone, ceiling",
            ],
            [
                [
                    s["workers"],
                    cores,
                    s["projected_per_s"][str(cores)]["ceiling"],
                    s["projected_per_s"][str(cores)]["at_measured_busy"],
                    s["projected_per_s"][str(cores)]["service_alone_ceiling"],
                ]
                for s in projected
                for cores in PROJECTED_CORES
            ],
        )


def main() -> None:
    args = arguments(__doc__ or "")
    raise_fd_limit()
    with database() as db_url, tempfile.TemporaryDirectory(prefix="qpg-scale-") as tmp:
        asyncio.run(run(args, db_url, Path(tmp)))


async def run(args: argparse.Namespace, db_url: str, work: Path) -> None:
    rates = QUICK_RATES if args.quick else RATES
    seconds = 2.0 if args.quick else 6.0
    started = time.monotonic()
    rows: list[dict[str, Any]] = []
    for workers in WORKERS:
        rows += await measure(workers, rates, seconds, db_url, work)
    cpus = psutil.cpu_count() or 1
    summary = summarize(rows, cpus)
    report(rows, summary)
    path = write_results(
        args.out,
        "scaling",
        {
            "quick": args.quick,
            "seconds_per_rate": seconds,
            "kept_up_p99_ms": KEPT_UP_P99_MS,
            "run_seconds": round(time.monotonic() - started, 1),
            "rows": rows,
            "summary": summary,
        },
    )
    print_table("written", ["file"], [[str(path)]])


if __name__ == "__main__":
    main()
