"""notify_commit: what NOTIFY costs a committing transaction, and a listener.

Issue 18 item 3 asks why LISTEN/NOTIFY once measured far worse than Redis at
50 payments/s, and names two suspects: PostgreSQL serializes the commits of
transactions that NOTIFY (each takes one database-wide lock to queue its
notifications at commit), and every process's listener hears every
notification. Both are measured here, apart from the service:

1. Commits. C connections each run, for a few seconds, transactions shaped
   like the settlement's tail: BEGIN; one statement that updates the
   worker's own row and (or not) sends a notification of the size the
   service sends; COMMIT. The same round trips either way, so the difference
   is the notification and its queueing at commit. At C = 1, 8 and 32:
   transactions per second and the latency of each. One listener connection
   hears the notifications (as the service's does) and counts them.
2. A listener's work per notification it hears, in this process: the hub's
   delivery of a signed state (persistence/pushes.py) for an intent with a
   subscriber here, and for one without (what every other process pays).

    python -m bench.notify_commit [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from decimal import Decimal
from typing import Any
from uuid import uuid4

import asyncpg

from bench.common import (
    arguments,
    asyncpg_url,
    database,
    percentiles,
    print_table,
    write_results,
)
from domain.intents import IntentId, IntentStatus
from domain.invoices import InvoiceStatus
from domain.status import PaymentStatus
from persistence.event_hub import EventHub
from persistence.pushes import PushSigner, payload
from tests.factories import make_intent, make_invoice

CHANNEL = "bench_notify_commit"
UPDATE = (
    "WITH u AS (UPDATE bench_notify SET n = n + 1 WHERE id = $1 RETURNING id) "
    "SELECT id FROM u"
)
UPDATE_AND_NOTIFY = (
    "WITH u AS (UPDATE bench_notify SET n = n + 1 WHERE id = $1 RETURNING id) "
    "SELECT pg_notify($2, $3) FROM u"
)


async def commits(
    dsn: str, connections: int, seconds: float, notify: str | None
) -> dict[str, Any]:
    """`connections` workers committing for `seconds`; each transaction
    updates the worker's own row (no row lock is shared) and, with `notify`,
    sends it as a notification."""
    pool = [await asyncpg.connect(dsn) for _ in range(connections)]
    listener = await asyncpg.connect(dsn)
    heard = 0

    def on_notify(*_: object) -> None:
        nonlocal heard
        heard += 1

    await listener.add_listener(CHANNEL, on_notify)
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def worker(n: int, connection: asyncpg.Connection[Any]) -> None:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            # The same round trips either way: BEGIN, one statement, COMMIT.
            async with connection.transaction():
                if notify is None:
                    await connection.execute(UPDATE, n)
                else:
                    await connection.execute(UPDATE_AND_NOTIFY, n, CHANNEL, notify)
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(worker(n, c) for n, c in enumerate(pool)))
    elapsed = time.perf_counter() - began
    await asyncio.sleep(0.5)  # the last notifications reach the listener
    for connection in (*pool, listener):
        await connection.close()
    return {
        "connections": connections,
        "notify": notify is not None,
        "transactions": len(latencies),
        "per_second": round(len(latencies) / elapsed, 1),
        "heard": heard,
        **percentiles(latencies),
    }


def a_settled_status() -> PaymentStatus:
    invoice = make_invoice(paid_amount=Decimal("10000.00"), status=InvoiceStatus.PAID)
    intent = make_intent(
        invoice,
        status=IntentStatus.PAID,
        paid_amount=Decimal("10000.00"),
        version=1,
        qpay_payment_id="593000000000001",
    )
    return PaymentStatus(intent, invoice)


def listener_work(count: int) -> list[dict[str, Any]]:
    """CPU microseconds of EventHub.deliver_payload per notification."""
    signer = PushSigner("bench-notify-commit-" + "k" * 32)
    status = a_settled_status()
    text = payload(status.intent.id, 1, status, signer)
    bare = payload(status.intent.id, 1)
    rows = []
    for label, sent, watched in (
        ("signed state, intent watched here", text, True),
        ("signed state, intent watched elsewhere", text, False),
        ("bare wake-up, intent watched elsewhere", bare, False),
    ):
        hub = EventHub(signer=signer)
        watching = IntentId(status.intent.id if watched else uuid4())
        with hub.subscribe(watching) as queue:
            started = time.process_time()
            for _ in range(count):
                hub.deliver_payload(sent)
                while not queue.empty():
                    queue.get_nowait()
            spent = time.process_time() - started
        rows.append(
            {
                "notification": label,
                "bytes": len(sent.encode()),
                "cpu_us": round(1e6 * spent / count, 1),
            }
        )
    return rows


async def run(args: argparse.Namespace, db_url: str) -> None:
    dsn = asyncpg_url(db_url)
    setup = await asyncpg.connect(dsn)
    await setup.execute(
        "CREATE TABLE bench_notify (id int PRIMARY KEY, n bigint NOT NULL);"
        "INSERT INTO bench_notify SELECT g, 0 FROM generate_series(0, 63) g"
    )
    await setup.close()
    status = a_settled_status()
    sent = payload(
        status.intent.id, 1, status, PushSigner("bench-notify-commit-" + "k" * 32)
    )
    seconds = 1.0 if args.quick else 5.0
    rows = []
    for connections in [1, 8] if args.quick else [1, 8, 32]:
        for notify in (None, sent):
            rows.append(await commits(dsn, connections, seconds, notify))
    listener = listener_work(2_000 if args.quick else 20_000)
    print_table(
        f"commits with and without NOTIFY ({len(sent.encode())}-byte payload)",
        ["connections", "NOTIFY", "tx/s", "p50 ms", "p99 ms", "heard"],
        [
            [
                r["connections"],
                "yes" if r["notify"] else "no",
                r["per_second"],
                r.get("p50_ms"),
                r.get("p99_ms"),
                r["heard"],
            ]
            for r in rows
        ],
    )
    print_table(
        "a listener's CPU per notification heard (EventHub.deliver_payload)",
        ["notification", "bytes", "CPU us"],
        [[r["notification"], r["bytes"], r["cpu_us"]] for r in listener],
    )
    path = write_results(
        args.out,
        "notify_commit",
        {"quick": args.quick, "rows": rows, "listener": listener},
    )
    print_table("written", ["file"], [[str(path)]])


def main() -> None:
    args = arguments(__doc__ or "")
    with database() as db_url:
        asyncio.run(run(args, db_url))


if __name__ == "__main__":
    main()
