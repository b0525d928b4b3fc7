"""poller_only: callbacks lost, the poller alone finds the payments.

Watched intents (each has a websocket subscriber, so the poller checks them
every QPAY_POLL_INTERVAL_SECONDS) are paid at known moments with callbacks
dropped: detection latency = subscriber sees PAID - payment time. Then the
same with callbacks on. For both: QPay payment/check calls per settled payment
(every check the service made during the run, divided by the payments).

    python -m bench.poller_only [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    Subscribers,
    arguments,
    database,
    make_intents,
    percentiles,
    print_table,
    service_env,
    services,
    simulator_server,
    write_results,
)

POLL_INTERVAL = 3.0


async def scenario(
    name: str,
    db_url: str,
    work: Path,
    count: int,
    drop_callbacks: bool,
    dwell: float,
    warm: int = 0,
) -> dict[str, Any]:
    """`warm`: payments made (and not counted) before the measured ones, so a
    running service is measured rather than its first minute."""
    async with simulator_server() as (simulator, simulator_url):
        env = service_env(
            db_url,
            simulator_url,
            QPAY_POLL_INTERVAL_SECONDS=str(POLL_INTERVAL),
            QPAY_MAX_CHECKS_PER_SECOND="5",
        )
        async with services(1, env, work / name) as (service,):
            if warm:
                simulator.set_callbacks(drop=drop_callbacks)
                earlier = await make_intents(service.url, warm)
                watchers = Subscribers()
                await watchers.start([service.ws_url], earlier, work / name / "warm")
                for intent in earlier:
                    simulator.pay(intent.qpay_invoice_id)
                await watchers.results(within=60)
            intents = await make_intents(service.url, count)
            subscribers = Subscribers()
            await subscribers.start([service.ws_url], intents, work / name / "subs")
            simulator.set_callbacks(drop=drop_callbacks)
            checks_before = sum(
                1
                for r in simulator.requests
                if str(r["path"]).endswith("/payment/check")
            )
            # Each patient pays after looking at the QR for a while.
            paid_at: dict[str, float] = {}
            moments = sorted((random.uniform(0, dwell), i) for i in intents)
            start = time.monotonic()
            for offset, intent in moments:
                await asyncio.sleep(max(0.0, start + offset - time.monotonic()))
                paid_at[intent.intent_id] = time.time()
                simulator.pay(intent.qpay_invoice_id)
            seen = await subscribers.results(within=POLL_INTERVAL * 6 + 30)
            checks = (
                sum(
                    1
                    for r in simulator.requests
                    if str(r["path"]).endswith("/payment/check")
                )
                - checks_before
            )
    values = [seen[i] - paid_at[i] for i in paid_at if i in seen]
    settled = len(values)
    return {
        "scenario": name,
        "payments": count,
        "settled": settled,
        "checks": checks,
        "checks_per_payment": round(checks / max(settled, 1), 2),
        **percentiles(values),
        "latencies_s": values,
    }


def main() -> None:
    args = arguments(__doc__ or "")
    with database() as db_url, tempfile.TemporaryDirectory(prefix="qpg-poll-") as tmp:
        asyncio.run(run(args, db_url, Path(tmp)))


async def run(args: argparse.Namespace, db_url: str, work: Path) -> None:
    count = 4 if args.quick else 12
    dwell = 3.0 if args.quick else 12.0
    warm = 0 if args.quick else 8
    rows = [
        await scenario("callbacks dropped", db_url, work, count, True, dwell),
        await scenario(
            "callbacks on, service just started", db_url, work, count, False, dwell
        ),
    ]
    if warm:
        rows += [
            await scenario(
                "callbacks dropped, running service",
                db_url,
                work,
                count,
                True,
                dwell,
                warm,
            ),
            await scenario(
                "callbacks on, running service",
                db_url,
                work,
                count,
                False,
                dwell,
                warm,
            ),
        ]
    print_table(
        f"poller_only: poll interval {POLL_INTERVAL:g} s, watched intents, "
        f"payments spread over {dwell:g} s",
        [
            "scenario",
            "payments",
            "settled",
            "QPay checks",
            "checks/payment",
            "p50 ms",
            "p99 ms",
            "max ms",
        ],
        [
            [
                r["scenario"],
                r["payments"],
                r["settled"],
                r["checks"],
                r["checks_per_payment"],
                r.get("p50_ms"),
                r.get("p99_ms"),
                r.get("max_ms"),
            ]
            for r in rows
        ],
    )
    write_results(
        args.out,
        "poller_only",
        {
            "quick": args.quick,
            "poll_interval_s": POLL_INTERVAL,
            "dwell_s": dwell,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
