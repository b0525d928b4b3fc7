"""background: what an idle service costs while checkout screens wait.

A clinic's checkout screens sit on unpaid intents most of the day. Each one
is watched, so the poller asks QPay about it (design.md §6) and the watch
keeper renews its watch; the ledger sweep, the listener's watchdog and the
metrics' gauges run whatever the rate. This is the CPU floor.py's 10/s row
carries on top of each payment (issue 18: background work spread over few
payments).

One service process (EVENTS_URL=postgres, as floor.py), N intents each
watched by a websocket subscriber, nobody paying: the service's CPU per
second over the window, the QPay checks it made, and the CPU per check.

    python -m bench.background [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    RESULTS,
    Subscribers,
    database,
    make_intents,
    print_table,
    service_env,
    services,
    simulator_server,
    write_results,
)
from bench.profile import (
    breakdown,
    our_functions,
    py_spy,
    start_py_spy,
    stop_py_spy,
)
from bench.push_latency import service_cpu

WATCHED = 60


def checks(requests: list[dict[str, Any]]) -> int:
    return sum(1 for r in requests if str(r["path"]).endswith("/payment/check"))


async def measure(
    db_url: str,
    work: Path,
    watched: int,
    seconds: float,
    settle: float,
    profile: Path | None,
) -> dict[str, Any]:
    """`settle`: seconds for the watched intents to reach their steady
    cadence before the window opens."""
    async with simulator_server() as (simulator, simulator_url):
        env = service_env(db_url, simulator_url)
        async with services(1, env, work / "service") as (service,):
            intents = await make_intents(service.url, watched)
            subscribers = Subscribers()
            await subscribers.start([service.ws_url], intents, work / "subscribers")
            await asyncio.sleep(settle)
            spy = None if profile is None else await start_py_spy(service, profile)
            checks_before = checks(simulator.requests)
            cpu_before = service_cpu([service])
            await asyncio.sleep(seconds)
            cpu = service_cpu([service]) - cpu_before
            made = checks(simulator.requests) - checks_before
            if spy is not None:
                await stop_py_spy(spy)
            # Nobody pays: stop the subscribers (SIGINT after a moment).
            await subscribers.results(within=1)
    return {
        "watched": watched,
        "seconds": seconds,
        "cpu_ms_per_second": round(1000 * cpu / seconds, 1),
        "qpay_checks": made,
        "checks_per_second": round(made / seconds, 2),
        "cpu_ms_per_check": round(1000 * cpu / made, 2) if made else None,
    }


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few seconds, for CI")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    parser.add_argument("--watched", type=int, default=WATCHED)
    parser.add_argument(
        "--profile", action="store_true", help="run the service under py-spy"
    )
    return parser.parse_args()


def main() -> None:
    args = arguments()
    if args.profile and py_spy() is None:
        raise SystemExit("--profile needs py-spy (the bench extra, PATH or PY_SPY)")
    with database() as db_url, tempfile.TemporaryDirectory(prefix="qpg-idle-") as tmp:
        asyncio.run(run(args, db_url, Path(tmp)))


async def run(args: argparse.Namespace, db_url: str, work: Path) -> None:
    watched = 6 if args.quick else args.watched
    seconds = 3.0 if args.quick else 30.0
    settle = 4.0 if args.quick else 15.0
    raw = work / "profile.txt" if args.profile else None
    row = await measure(db_url, work, watched, seconds, settle, raw)
    print_table(
        f"background: one idle service, {watched} watched unpaid intents, "
        f"{seconds:g} s",
        ["watched", "CPU ms/s", "QPay checks/s", "CPU ms/check"],
        [
            [
                row["watched"],
                row["cpu_ms_per_second"],
                row["checks_per_second"],
                row["cpu_ms_per_check"],
            ]
        ],
    )
    profile = None
    if raw is not None:
        # Priced per second of the window: the "payment" of breakdown() is
        # one second here.
        profile = breakdown(raw, row["cpu_ms_per_second"])
        print_table(
            "own CPU by library, ms per second (py-spy)",
            ["library", "share %", "ms/s"],
            profile["by_library"],
        )
        print_table(
            "top frames by own CPU", ["frame", "share %"], profile["top_frames"]
        )
        profile["our_functions"] = our_functions(raw)
        print_table(
            "our functions by inclusive CPU (what the samples above serve)",
            ["function", "share %"],
            profile["our_functions"],
        )
    path = write_results(
        args.out, "background", {"quick": args.quick, "row": row, "profile": profile}
    )
    print_table("written", ["file"], [[str(path)]])


if __name__ == "__main__":
    main()
