"""The chaos run: 1,000 payments through two server processes while things break.

Two `qpay-graph serve` processes on one PostgreSQL database (events over
LISTEN/NOTIFY, or Redis with --events redis), the QPay simulator in this
process behind a fault gate, and subscriber processes watching every intent
(some drop their socket mid-payment and subscribe again). The gate makes 20%
of payment checks answer 500 or time out, 10% of calls answer 401 on a live
token, 5% answer malformed JSON; 10% of callbacks are dropped and every other
one is sent three times; some payments are partial and some overpay. Midway
one server is killed with SIGKILL and restarted, and PostgreSQL's listener
connections are terminated. At the end the invariants are checked and printed.

    python -m bench.chaos [--quick] [--events postgres|redis]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import uvicorn

from bench.common import (
    CREATE_INVOICE,
    CREATE_QPAY,
    RESULTS,
    ROOT,
    Service,
    asyncpg_url,
    database,
    free_port,
    print_table,
    raise_fd_limit,
    service_env,
    staff_client,
    wait_ready,
    write_results,
)
from qpay.simulator import QPaySimulator

CHECK = "mutation($id: ID!) { checkQPayPayment(intentId: $id) { intent { status } } }"
READ_TIMEOUT = 2.0


class FaultGate:
    """Random faults in front of the simulator (only once `enabled`)."""

    def __init__(self, app: Any, seed: int) -> None:
        self.app = app
        self.random = random.Random(seed)
        self.enabled = False
        self.counts = {"500": 0, "timeout": 0, "401": 0, "malformed": 0, "passed": 0}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if (
            not self.enabled
            or scope["type"] != "http"
            or "/v2/" not in path
            or "/v2/auth/" in path
        ):
            await self.app(scope, receive, send)
            return
        roll = self.random.random()
        if roll < 0.10:
            self.counts["401"] += 1
            await _answer(
                send, 401, b'{"error":"NO_CREDENDIALS","message":"NO_CREDENDIALS"}'
            )
            return
        if path.endswith("/payment/check"):
            check = self.random.random()
            if check < 0.10:
                self.counts["500"] += 1
                await _answer(
                    send, 500, b'{"error":"SYSTEM_BUSY","message":"SYSTEM_BUSY"}'
                )
                return
            if check < 0.20:
                self.counts["timeout"] += 1
                await asyncio.sleep(READ_TIMEOUT + 1.0)
        if self.random.random() < 0.05:
            self.counts["malformed"] += 1
            await _answer(send, 200, b'{"count": 1, "rows": [{"payment_id"')
            return
        self.counts["passed"] += 1
        await self.app(scope, receive, send)


def callback_key(url: str) -> tuple[str, str]:
    """(intent id, QPay's payment id) of a callback URL QPay called."""
    parts = urlsplit(url)
    intent_id = parts.path.rstrip("/").rsplit("/", 1)[-1]
    payment_id = parse_qs(parts.query).get("qpay_payment_id", [""])[0]
    return intent_id, payment_id


async def _answer(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Process:
    """One `qpay-graph serve` that can be killed and restarted on its port."""

    def __init__(self, index: int, env: dict[str, str], work: Path) -> None:
        self.index = index
        self.port = free_port()
        self.env = {
            **os.environ,
            **env,
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.port}",
            "DATA_DIR": str(work / f"data-{index}"),
        }
        self.log = work / f"service-{index}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def service(self) -> Service:
        assert self.process is not None
        return Service(f"http://127.0.0.1:{self.port}", self.process, self.log)

    async def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)],
            env=self.env,
            cwd=ROOT,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        await wait_ready(self.service)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(30)
            self.kill()


async def create_intents(processes: list[Process], count: int) -> list[dict[str, Any]]:
    semaphore = asyncio.Semaphore(16)
    clients = [staff_client(p.service.url) for p in processes]

    async def one(n: int) -> dict[str, Any]:
        client = clients[n % len(clients)]
        async with semaphore:
            total = f"{random.randint(1, 500) * 100}.00"
            invoice = await client.post(
                "/graphql",
                json={
                    "query": CREATE_INVOICE,
                    "variables": {"input": {"total": total}},
                },
            )
            invoice_id = invoice.json()["data"]["createInvoice"]["invoice"]["id"]
            created = await client.post(
                "/graphql",
                json={
                    "query": CREATE_QPAY,
                    "variables": {"input": {"invoiceId": invoice_id}},
                },
            )
            payload = created.json()["data"]["createQPayInvoice"]
            return {
                "id": payload["intent"]["id"],
                "qpay": payload["intent"]["qpayInvoiceId"],
                "secret": payload["clientSecret"],
                "amount": Decimal(total),
                "creator": n % len(clients),
            }

    try:
        return list(await asyncio.gather(*(one(n) for n in range(count))))
    finally:
        for client in clients:
            await client.aclose()


async def db_state(db_url: str) -> dict[str, Any]:
    connection = await asyncpg.connect(asyncpg_url(db_url))
    try:
        intents = {
            str(r["id"]): {
                "status": r["status"],
                "version": r["version"],
                "paid": r["paid_amount"],
            }
            for r in await connection.fetch(
                "SELECT id, status, version, paid_amount FROM qpay_intents"
            )
        }
        payments = [
            r["qpay_txn_id"]
            for r in await connection.fetch(
                "SELECT qpay_txn_id FROM payments WHERE qpay_txn_id IS NOT NULL"
            )
        ]
        mismatched = await connection.fetchval(
            "SELECT count(*) FROM invoices i WHERE i.paid_amount <> "
            "(SELECT coalesce(sum(amount), 0) FROM payments p "
            "WHERE p.invoice_id = i.id AND p.currency = 'MNT')"
        )
        callbacks = {
            (r["intent_id"], r["qpay_payment_id"] or ""): r["n"]
            for r in await connection.fetch(
                "SELECT intent_id::text, qpay_payment_id, count(*) AS n "
                "FROM qpay_callbacks GROUP BY 1, 2"
            )
        }
        return {
            "intents": intents,
            "payments": payments,
            "mismatched": mismatched,
            "callbacks": callbacks,
        }
    finally:
        await connection.close()


async def terminate_listeners(db_url: str) -> int:
    connection = await asyncpg.connect(asyncpg_url(db_url))
    try:
        return len(
            await connection.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'qpay-graph-listener' "
                "AND datname = current_database()"
            )
        )
    finally:
        await connection.close()


async def run(args: argparse.Namespace, db_url: str, work: Path) -> dict[str, Any]:
    count = 50 if args.quick else 1000
    rate = 25.0 if args.quick else 40.0
    rng = random.Random(7)
    simulator = QPaySimulator()
    gate = FaultGate(simulator.app, seed=11)
    sim_port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            gate,
            host="127.0.0.1",
            port=sim_port,
            log_config=None,
            lifespan="off",
            backlog=4096,
        )
    )
    sim_task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    events = "redis://127.0.0.1:6379/0" if args.events == "redis" else "postgres"
    env = service_env(
        db_url,
        f"http://127.0.0.1:{sim_port}",
        EVENTS_URL=events,
        QPAY_READ_TIMEOUT_SECONDS=str(READ_TIMEOUT),
        QPAY_POLL_INTERVAL_SECONDS="2",
        QPAY_POLL_MAX_INTERVAL_SECONDS="10",
        QPAY_MAX_CHECKS_PER_SECOND="50",
    )
    processes = [Process(0, env, work), Process(1, env, work)]
    started = time.monotonic()
    figures: dict[str, Any] = {"payments": count, "events": events}
    try:
        await asyncio.gather(*(p.start() for p in processes))
        intents = await create_intents(processes, count)
        # Subscribers: half on the process that made the intent, half on the other.
        spec_intents = [
            {
                "id": i["id"],
                "secret": i["secret"],
                "url": processes[(i["creator"] + n) % 2].service.ws_url,
            }
            for n, i in enumerate(intents)
        ]
        clients = []
        results = []
        for index in range(2):
            spec = work / f"chaos-clients-{index}.json"
            result = work / f"chaos-seen-{index}.json"
            spec.write_text(
                json.dumps(
                    {
                        "intents": spec_intents[index::2],
                        "result": str(result),
                        "flaky": 0.2,
                        "timeout": 900,
                    }
                )
            )
            results.append(result)
            clients.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.chaos_clients", str(spec)],
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    stderr=(work / f"chaos-clients-{index}.log").open("wb"),
                )
            )
        for client in clients:
            assert client.stdout is not None
            await asyncio.to_thread(client.stdout.readline)
        await asyncio.sleep(2.0)

        gate.enabled = True
        graphql_5xx = 0
        graphql_calls = 0
        plan = {"exact": 0, "partial": 0, "over": 0, "dropped": 0, "tripled": 0}
        staff = staff_client(processes[0].service.url)
        pay_started = time.monotonic()
        for n, intent in enumerate(intents):
            await asyncio.sleep(max(0.0, pay_started + n / rate - time.monotonic()))
            if n == count // 2:
                processes[1].kill()
                figures["listeners_terminated"] = await terminate_listeners(db_url)
                restart = asyncio.create_task(processes[1].start())
            roll = rng.random()
            amount = intent["amount"]
            if roll < 0.05 and amount > 100:
                amount, kind = amount - Decimal("100.00"), "partial"
            elif roll < 0.10:
                amount, kind = amount + Decimal("50.00"), "over"
            else:
                kind = "exact"
            plan[kind] += 1
            intent["paid"] = amount
            intent["kind"] = kind
            dropped = rng.random() < 0.10
            if dropped:
                plan["dropped"] += 1
            elif n % 2 == 0:
                plan["tripled"] += 1
            simulator.set_callbacks(drop=dropped, duplicate=3 if n % 2 == 0 else 1)
            simulator.pay(intent["qpay"], amount)
            if rng.random() < 0.2:  # a cashier presses "check"
                graphql_calls += 1
                with contextlib.suppress(httpx.HTTPError):
                    answer = await staff.post(
                        "/graphql",
                        json={"query": CHECK, "variables": {"id": intent["id"]}},
                    )
                    graphql_5xx += answer.status_code >= 500
        await restart
        await staff.aclose()
        figures["plan"] = plan
        figures["pay_seconds"] = round(time.monotonic() - pay_started, 1)

        # Wait until every intent QPay shows paid is settled or in review.
        deadline = time.monotonic() + (120 if args.quick else 600)
        while time.monotonic() < deadline:
            state = await db_state(db_url)
            if all(
                s["status"] in ("PAID", "NEEDS_REVIEW")
                for s in state["intents"].values()
            ):
                break
            await asyncio.sleep(1.0)
        figures["settle_seconds"] = round(time.monotonic() - pay_started, 1)
        for client in clients:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(client.wait, 120)
            if client.poll() is None:
                client.send_signal(signal.SIGTERM)
                await asyncio.to_thread(client.wait, 30)
        seen: dict[str, Any] = {}
        for result in results:
            if result.exists():
                seen.update(json.loads(result.read_text()))
        state = await db_state(db_url)
        await simulator.wait_callbacks()
    finally:
        gate.enabled = False
        for process in processes:
            process.stop()
        server.should_exit = True
        await asyncio.gather(sim_task, return_exceptions=True)
        await simulator.aclose()

    qpay_paid = [
        p.payment_id for p in simulator.state.payments.values() if p.status == "PAID"
    ]
    delivered = [c for c in simulator.callbacks_sent if c.get("status") == 200]
    # Every callback the service answered must be stored; it may store more
    # (a process killed after storing one, before its answer went out).
    answered = Counter(callback_key(c["url"]) for c in delivered)
    unstored = sum(
        max(0, n - state["callbacks"].get(key, 0)) for key, n in answered.items()
    )
    stuck = [
        i
        for i, s in state["intents"].items()
        if s["status"] not in ("PAID", "NEEDS_REVIEW")
    ]
    wrong_status = [
        i["id"]
        for i in intents
        if state["intents"][i["id"]]["status"]
        != ("PAID" if i["kind"] == "exact" else "NEEDS_REVIEW")
    ]
    subscriber_mismatch = [
        i
        for i, s in state["intents"].items()
        if i not in seen
        or seen[i]["version"] != s["version"]
        or seen[i]["intent"]["status"] != s["status"]
    ]
    checks = {
        "one Payment per QPay payment id": sorted(state["payments"])
        == sorted(qpay_paid),
        "every paid intent settled or NEEDS_REVIEW, none PENDING": not stuck,
        "each intent's status matches what was paid": not wrong_status,
        "each invoice's paid amount equals the sum of its payments": state["mismatched"]
        == 0,
        "every subscriber's last state equals the database": not subscriber_mismatch,
        "zero 5xx answers from /graphql": graphql_5xx == 0,
        "every callback received is stored": unstored == 0,
    }
    figures.update(
        {
            "seconds": round(time.monotonic() - started, 1),
            "faults_injected": gate.counts,
            "qpay_payments": len(qpay_paid),
            "payments_recorded": len(state["payments"]),
            "duplicate_qpay_ids": len(state["payments"]) - len(set(state["payments"])),
            "callbacks_sent": len(simulator.callbacks_sent),
            "callbacks_delivered": len(delivered),
            "callbacks_stored": sum(state["callbacks"].values()),
            "graphql_checks": graphql_calls,
            "graphql_5xx": graphql_5xx,
            "subscribers_mismatched": len(subscriber_mismatch),
            "stuck": len(stuck),
            "checks": checks,
            "all_hold": all(checks.values()),
        }
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", choices=["postgres", "redis"], default="postgres")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    raise_fd_limit()
    with database() as db_url, tempfile.TemporaryDirectory(prefix="qpg-chaos-") as tmp:
        figures = asyncio.run(run(args, db_url, Path(tmp)))
    print_table(
        "chaos run: invariants",
        ["invariant", "holds"],
        [[name, "yes" if ok else "NO"] for name, ok in figures["checks"].items()],
    )
    print_table(
        "chaos run: figures",
        ["figure", "value"],
        [[k, v] for k, v in figures.items() if k not in ("checks",)],
    )
    write_results(args.out, "chaos", {"quick": args.quick, **figures})
    raise SystemExit(0 if figures["all_hold"] else 1)


if __name__ == "__main__":
    main()
