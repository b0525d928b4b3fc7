"""subscriber_capacity: many idle checkout screens on one process.

K idle subscribers (1,000, 5,000, 10,000) connect to one service process;
resident memory per subscriber = (RSS with them - RSS before) / K. Then
payments at 200/s among them: p99 delivery latency (callback sent -> PAID).

    python -m bench.subscriber_capacity [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

import psutil

from bench.common import (
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
from bench.push_latency import latencies, pay_at_rate


def rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


async def one_size(
    db_url: str, work: Path, size: int, rate: int, paid: int
) -> dict[str, Any]:
    async with simulator_server() as (simulator, simulator_url):
        env = service_env(db_url, simulator_url, QPAY_POLL_INTERVAL_SECONDS="60")
        async with services(1, env, work / str(size)) as (service,):
            intents = await make_intents(service.url, size, concurrency=32)
            await asyncio.sleep(1.0)
            before = rss(service.process.pid)
            subscribers = Subscribers()
            processes = max(1, min(4, size // 2500 + 1))
            per_process = paid // processes
            await subscribers.start(
                [service.ws_url],
                intents,
                work / str(size) / "subs",
                processes=processes,
                expect={str(i): per_process for i in range(processes)},
            )
            await asyncio.sleep(2.0)
            during = rss(service.process.pid)
            # Pay the first `paid` intents of every process's share.
            chunks = [intents[i::processes][:per_process] for i in range(processes)]
            to_pay = [intent for chunk in chunks for intent in chunk]
            simulator.callbacks_sent.clear()
            await pay_at_rate(simulator, to_pay, rate)
            seen = await subscribers.results(within=120)
            values = latencies(simulator, to_pay, seen)
    per = (during - before) / size
    return {
        "subscribers": size,
        "rss_before_mb": round(before / 2**20, 1),
        "rss_with_subscribers_mb": round(during / 2**20, 1),
        "kib_per_subscriber": round(per / 1024, 1),
        "payments": len(to_pay),
        "rate": rate,
        "missing": len(to_pay) - len(values),
        **percentiles(values),
        "latencies_s": values,
    }


def main() -> None:
    args = arguments(__doc__ or "")
    limit = raise_fd_limit(200_000)
    with database() as db_url, tempfile.TemporaryDirectory(prefix="qpg-cap-") as tmp:
        asyncio.run(run(args, db_url, Path(tmp), limit))


async def run(args: argparse.Namespace, db_url: str, work: Path, fd_limit: int) -> None:
    sizes = [100] if args.quick else [1000, 5000, 10000]
    rate = 50 if args.quick else 200
    rows = []
    for size in sizes:
        row = await one_size(
            db_url, work, size, rate, min(size, 20 if args.quick else 1000)
        )
        rows.append(row)
        # Each size takes minutes: show it as soon as it is known.
        print(
            f"{size} subscribers: {row['kib_per_subscriber']} KiB each, "
            f"p99 {row.get('p99_ms')} ms, missing {row['missing']}",
            flush=True,
        )
    print_table(
        f"subscriber_capacity: idle subscribers on one process (fd limit {fd_limit})",
        [
            "subscribers",
            "RSS before MB",
            "RSS with MB",
            "KiB/subscriber",
            "payments",
            "rate/s",
            "missing",
            "p50 ms",
            "p99 ms",
            "max ms",
        ],
        [
            [
                r["subscribers"],
                r["rss_before_mb"],
                r["rss_with_subscribers_mb"],
                r["kib_per_subscriber"],
                r["payments"],
                r["rate"],
                r["missing"],
                r.get("p50_ms"),
                r.get("p99_ms"),
                r.get("max_ms"),
            ]
            for r in rows
        ],
    )
    write_results(args.out, "subscriber_capacity", {"quick": args.quick, "rows": rows})


if __name__ == "__main__":
    main()
