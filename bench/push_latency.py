"""push_latency: from the moment QPay (the simulator) sends the callback to the
moment the subscriber holds the settled PAID event.

N intents, each watched by its own websocket subscriber (2 client processes);
the simulator pays them at R payments/s with callbacks on. Variants: the
subscriber on the same process as the callback; on a second process with
EVENTS_URL=postgres; and with redis. Baseline in the same run: the replaced
design, a client that polls checkQPayPayment every 3 s, measured the same way.
Payments start 3 s after every subscriber holds its snapshot; the service
processes' CPU time per payment is reported beside the latencies.

    python -m bench.push_latency [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from app.staff_tokens import StaffTokens
from bench.common import (
    JWT_SECRET,
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
    services,
    simulator_server,
    write_results,
)
from bench.profile import start_py_spy, stop_py_spy

REDIS_URL = "redis://127.0.0.1:6379/0"
SETTLE_SECONDS = 3.0


def service_cpu(running: list[Service]) -> float:
    """CPU seconds (user + system) the service processes have used so far."""
    total = 0.0
    for service in running:
        times = psutil.Process(service.process.pid).cpu_times()
        total += times.user + times.system
    return total


def redis_up() -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", 6379)) == 0


async def pay_at_rate(simulator: Any, intents: list[Intent], rate: float) -> None:
    start = time.monotonic()
    for index, intent in enumerate(intents):
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        simulator.pay(intent.qpay_invoice_id)


def latencies(
    simulator: Any, intents: list[Intent], seen: dict[str, float]
) -> list[float]:
    sent: dict[str, float] = {}
    for callback in simulator.callbacks_sent:
        for intent in intents:
            if f"/qpay/callback/{intent.intent_id}?" in callback["url"]:
                sent.setdefault(intent.intent_id, callback["sent_at"])
    return [seen[i] - sent[i] for i in sent if i in seen]


async def measure(
    name: str,
    events_url: str,
    processes: int,
    rates: list[int],
    seconds: float,
    db_url: str,
    workdir: Path,
    poll: bool = False,
    profile: Path | None = None,
) -> list[dict[str, Any]]:
    """Each rate's latencies and service CPU; with `profile`, the process
    the subscribers watch runs under py-spy while paid (bench/profile.py)."""
    rows = []
    async with simulator_server() as (simulator, simulator_url):
        env = service_env(db_url, simulator_url, EVENTS_URL=events_url)
        async with services(processes, env, workdir / name) as running:
            watcher, payee = running[0], running[-1]
            for rate in rates:
                count = max(10, int(rate * seconds))
                intents = await make_intents(payee.url, count)
                subscribers = Subscribers()
                poll_spec = None
                if poll:
                    poll_spec = {
                        "mode": "poll",
                        "http_url": watcher.url,
                        "interval": 3.0,
                        "token": StaffTokens(JWT_SECRET).issue(ttl_seconds=3600),
                    }
                await subscribers.start(
                    [watcher.ws_url],
                    intents,
                    workdir / name / str(rate),
                    poll=poll_spec,
                )
                # A patient pays seconds after the QR appears, not in the same
                # instant that every screen subscribes: let the subscriptions'
                # start (snapshots, the watch keeper's first mark) finish first.
                await asyncio.sleep(SETTLE_SECONDS)
                simulator.callbacks_sent.clear()
                spy = None if profile is None else await start_py_spy(watcher, profile)
                cpu_before = service_cpu(running)
                await pay_at_rate(simulator, intents, rate)
                seen = await subscribers.results(within=60)
                cpu = service_cpu(running) - cpu_before
                if spy is not None:
                    await stop_py_spy(spy)
                values = latencies(simulator, intents, seen)
                rows.append(
                    {
                        "variant": name,
                        "rate": rate,
                        "payments": count,
                        "missing": count - len(values),
                        "service_cpu_ms_per_payment": round(1000 * cpu / count, 2),
                        **percentiles(values),
                        "latencies_s": values,
                    }
                )
    return rows


def main() -> None:
    args = arguments(__doc__ or "")
    raise_fd_limit()
    with database() as db_url, tempfile.TemporaryDirectory(prefix="qpg-push-") as tmp:
        asyncio.run(run(args, db_url, Path(tmp)))


async def run(args: argparse.Namespace, db_url: str, work: Path) -> None:
    rates = [10] if args.quick else [10, 50, 200]
    seconds = 2.0 if args.quick else 6.0
    results: list[dict[str, Any]] = []
    results += await measure(
        "same process", "postgres", 1, rates, seconds, db_url, work
    )
    if not args.quick:
        results += await measure(
            "2 processes, postgres", "postgres", 2, rates, seconds, db_url, work
        )
        if redis_up():
            results += await measure(
                "2 processes, redis", REDIS_URL, 2, rates, seconds, db_url, work
            )
        results += await measure(
            "baseline: poll every 3 s",
            "postgres",
            1,
            [10, 50],
            seconds,
            db_url,
            work,
            poll=True,
        )
    print_table(
        "push_latency: callback sent -> subscriber holds settled PAID",
        [
            "variant",
            "rate/s",
            "n",
            "missing",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "CPU ms/payment",
        ],
        [
            [
                r["variant"],
                r["rate"],
                r.get("n", 0),
                r["missing"],
                r.get("p50_ms"),
                r.get("p90_ms"),
                r.get("p99_ms"),
                r.get("max_ms"),
                r["service_cpu_ms_per_payment"],
            ]
            for r in results
        ],
    )
    path = write_results(
        args.out, "push_latency", {"quick": args.quick, "rows": results}
    )
    print_table("written", ["file"], [[str(path)]])


if __name__ == "__main__":
    main()
