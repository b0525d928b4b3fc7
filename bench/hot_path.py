"""hot_path: the CPU time of each database step of one payment, in process.

The push path's three use cases, each called N times in a row on real
PostgreSQL through the service's own units of work, QPay replaced by the
in-memory fake (no HTTP): the callback's check and stored request
(accept_callback, on the autocommit unit of work as the service runs it), the
settlement (settle_known_intent: lock, record, history, notify, commit), and
a subscription's re-read (read_payment_status, autocommit). CPU time of this
process only (time.process_time), so PostgreSQL's own work and the machine's
other load stay out: the figure to compare before and after a change of the
persistence code, step by step, where bench/floor.py's end-to-end figure is
too noisy for a 0.1 ms change.

    python -m bench.hot_path [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from app.bootstrap import asyncpg_dsn
from app.clock import SystemClock
from bench.common import arguments, database, print_table, write_results
from domain.callbacks import ReceivedCallback
from domain.intents import IntentRef
from domain.services.create_invoice import CreateInvoice, create_invoice
from domain.services.create_qpay_invoice import (
    CreateQPayInvoice,
    QPayInvoicePolicy,
    create_qpay_invoice,
)
from domain.services.record_callback import accept_callback
from domain.services.settle_qpay_intent import settle_known_intent
from domain.services.watch_payment_status import read_payment_status
from persistence.engine import make_engine
from persistence.event_hub import EventHub, PostgresTransport
from persistence.unit_of_work import SqlAlchemyUnitOfWork
from tests.fakes.gateway import FakePaymentGateway

ROUNDS = 3


async def measure(db_url: str, count: int) -> list[dict[str, Any]]:
    engine = make_engine(db_url)
    transport = PostgresTransport(EventHub(), asyncpg_dsn(db_url))

    def uow() -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(engine, transport)

    def single() -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(engine, transport, autocommit=True)

    gateway = FakePaymentGateway()
    clock = SystemClock()
    policy = QPayInvoicePolicy(ttl_seconds=900, callback_base_url="http://bench")
    samples: dict[str, list[float]] = {"callback": [], "settle": [], "re-read": []}
    try:
        for _ in range(ROUNDS):
            intents: list[tuple[IntentRef, str]] = []
            for _ in range(count):
                invoice = await create_invoice(
                    CreateInvoice(total=Decimal("15000.00")), uow=uow, clock=clock
                )
                created = await create_qpay_invoice(
                    CreateQPayInvoice(invoice_id=invoice.id),
                    uow=uow,
                    gateway=gateway,
                    clock=clock,
                    policy=policy,
                )
                intent = created.intent
                assert intent.qpay_invoice_id is not None
                url = gateway.invoices[intent.qpay_invoice_id].request.callback_url
                token = parse_qs(urlsplit(url).query)["token"][0]
                ref = IntentRef(
                    intent.id,
                    intent.invoice_id,
                    intent.qpay_invoice_id,
                    intent.environment,
                )
                intents.append((ref, token))
                gateway.pay(intent.qpay_invoice_id)

            async def callback(ref: IntentRef, token: str) -> None:
                received = ReceivedCallback(
                    intent_id=ref.intent_id,
                    method="GET",
                    query={"qpay_payment_id": "1"},
                    headers={"host": "bench", "user-agent": "QPay"},
                    body="",
                    remote_addr="127.0.0.1",
                    received_at=clock.now(),
                )
                accepted = await accept_callback(
                    ref.intent_id, token, received, uow=single
                )
                assert accepted is not None

            async def settle(ref: IntentRef, _: str) -> None:
                outcome = await settle_known_intent(
                    ref, uow=uow, gateway=gateway, clock=clock
                )
                assert outcome.recorded

            async def reread(ref: IntentRef, _: str) -> None:
                status = await read_payment_status(ref.intent_id, uow=single)
                assert status is not None

            steps: list[tuple[str, Callable[[IntentRef, str], Awaitable[None]]]] = [
                ("callback", callback),
                ("settle", settle),
                ("re-read", reread),
            ]
            for name, step in steps:
                started = time.process_time()
                for ref, token in intents:
                    await step(ref, token)
                samples[name].append(1000 * (time.process_time() - started) / count)
    finally:
        await engine.dispose()
    return [
        {
            "step": name,
            "calls": count * ROUNDS,
            "cpu_ms_median": round(statistics.median(values), 3),
            "cpu_ms_rounds": [round(v, 3) for v in values],
        }
        for name, values in samples.items()
    ]


def main() -> None:
    args = arguments(__doc__ or "")
    with database() as db_url:
        asyncio.run(run(args, db_url))


async def run(args: argparse.Namespace, db_url: str) -> None:
    count = 50 if args.quick else 500
    rows = await measure(db_url, count)
    total = round(sum(r["cpu_ms_median"] for r in rows), 3)
    print_table(
        f"hot_path: CPU ms per call, this process only ({count} calls x {ROUNDS})",
        ["step", "median ms", "rounds"],
        [[r["step"], r["cpu_ms_median"], r["cpu_ms_rounds"]] for r in rows]
        + [["total", total, ""]],
    )
    path = write_results(
        Path(args.out),
        "hot_path",
        {"quick": args.quick, "rows": rows, "total_cpu_ms": total},
    )
    print_table("written", ["file"], [[str(path)]])


if __name__ == "__main__":
    main()
