"""The chaos run: 1,000 payments through two server processes while things break.

Two `qpay-graph serve` processes on one PostgreSQL database (events over
LISTEN/NOTIFY, or Redis with --events redis), the QPay simulator in this
process behind a fault gate, and subscriber processes watching every intent
(some drop their socket mid-payment and subscribe again). The gate makes 20%
of payment checks answer 500 or time out, 10% of calls answer 401 on a live
token, 5% answer malformed JSON; 10% of callbacks are dropped and half of the
rest are sent three times. Midway one server is killed with SIGKILL and
restarted, and PostgreSQL's listener connections are terminated.

Money arrives in every state, its callback lost: payments after a cancel and
after expiry, a second scan of a paid QR, more money on a short-paid intent in
review; some payments are partial, some overpay, some come in a shape no table
can hold (three decimals). A fifth of the e-Barimt creates reach QPay and lose
their answer; two createQPayInvoice race for one bill while QPay is slow.

At the end QPay's own ledger (the simulator's record of every payment it
took) must equal the payments table exactly, every receipt be issued at most
once, and the other invariants hold; they are checked and printed
(bench/chaos_checks.py).

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

from bench.chaos_checks import Planned, end_state, invariants, settled_everywhere
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
CANCEL = "mutation($id: ID!) { cancelQPayInvoice(intentId: $id) { intent { status } } }"
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


KINDS = (  # (kind, share of the intents); the rest pay exactly
    ("partial", 0.05),
    ("over", 0.05),
    ("cancel", 0.08),
    ("expire", 0.07),
    ("malformed", 0.04),
)


def plan_kind(rng: random.Random) -> str:
    roll = rng.random()
    for kind, share in KINDS:
        if roll < share:
            return kind
        roll -= share
    return "exact"


async def create_intents(
    processes: list[Process], count: int, rng: random.Random
) -> list[Planned]:
    semaphore = asyncio.Semaphore(16)
    clients = [staff_client(p.service.url) for p in processes]
    plans = [
        (plan_kind(rng), rng.random() < 0.3, f"{rng.randint(2, 500) * 100}.00")
        for _ in range(count)
    ]

    async def one(n: int) -> Planned:
        kind, ebarimt, total = plans[n]
        client = clients[n % len(clients)]
        async with semaphore:
            invoice = await client.post(
                "/graphql",
                json={
                    "query": CREATE_INVOICE,
                    "variables": {"input": {"total": total}},
                },
            )
            invoice_id = invoice.json()["data"]["createInvoice"]["invoice"]["id"]
            request: dict[str, Any] = {"invoiceId": invoice_id}
            if ebarimt:
                request["ebarimt"] = {"receiverType": "CITIZEN", "receiver": "99112233"}
            created = await client.post(
                "/graphql",
                json={"query": CREATE_QPAY, "variables": {"input": request}},
            )
            payload = created.json()["data"]["createQPayInvoice"]
            return Planned(
                id=payload["intent"]["id"],
                qpay=payload["intent"]["qpayInvoiceId"],
                secret=payload["clientSecret"],
                amount=Decimal(total),
                creator=n % len(clients),
                kind=kind,
                ebarimt=ebarimt,
            )

    try:
        return list(await asyncio.gather(*(one(n) for n in range(count))))
    finally:
        for client in clients:
            await client.aclose()


async def duplicate_creates(
    processes: list[Process], simulator: QPaySimulator, bills: int
) -> int:
    """Two createQPayInvoice for one bill at once, one on each process, while
    QPay takes its time: both must answer the same intent. Returns how many
    bills ended with more than one payable QPay invoice (must be 0)."""
    clients = [staff_client(p.service.url) for p in processes]
    try:
        simulator.delay_next("/invoice", 1.5, count=bills * 2, method="POST")
        doubled = 0
        for _ in range(bills):
            invoice = await clients[0].post(
                "/graphql",
                json={
                    "query": CREATE_INVOICE,
                    "variables": {"input": {"total": "500.00"}},
                },
            )
            invoice_id = invoice.json()["data"]["createInvoice"]["invoice"]["id"]
            before = set(simulator.state.invoices)
            answers = await asyncio.gather(
                *(
                    client.post(
                        "/graphql",
                        json={
                            "query": CREATE_QPAY,
                            "variables": {"input": {"invoiceId": invoice_id}},
                        },
                    )
                    for client in clients
                )
            )
            made = {
                (a.json()["data"]["createQPayInvoice"]["intent"] or {}).get(
                    "qpayInvoiceId"
                )
                for a in answers
            } - {None}
            open_at_qpay = [
                invoice
                for qpay_id, invoice in simulator.state.invoices.items()
                if qpay_id not in before and invoice.status == "OPEN"
            ]
            doubled += len(made) != 1 or len(open_at_qpay) > 1
            for intent_id in {
                (a.json()["data"]["createQPayInvoice"]["intent"] or {}).get("id")
                for a in answers
            } - {None}:
                await staff_call(clients[0], CANCEL, {"id": intent_id})
        return doubled
    finally:
        for client in clients:
            await client.aclose()


async def staff_call(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any]
) -> tuple[dict[str, Any] | None, bool]:
    """(the payload, whether the answer was a 5xx); transport errors give None."""
    try:
        answer = await client.post(
            "/graphql", json={"query": query, "variables": variables}
        )
    except httpx.HTTPError:
        return None, False
    if answer.status_code >= 500:
        return None, True
    data = answer.json().get("data") or {}
    return next(iter(data.values()), None), False


async def close_first(
    client: httpx.AsyncClient, intent: Planned, counters: Counter[str]
) -> None:
    """The cashier cancels the QR (retrying QPay's injected faults)."""
    for _ in range(8):
        payload, failed = await staff_call(client, CANCEL, {"id": intent.id})
        counters["graphql_calls"] += 1
        counters["graphql_5xx"] += failed
        status = ((payload or {}).get("intent") or {}).get("status")
        if status == "CANCELLED":
            intent.closed = "CANCELLED"
            return
        if status in ("PAID", "NEEDS_REVIEW"):
            return
        await asyncio.sleep(0.5)


async def expire(db_url: str, intents: list[Planned], within: float) -> None:
    """Expire these intents now (as if their TTL ran out) and wait for the
    poller's last check and cancel to close them."""
    if not intents:
        return
    ids = [i.id for i in intents]
    connection = await asyncpg.connect(asyncpg_url(db_url))
    statuses: dict[str, str] = {}
    try:
        await connection.execute(
            "UPDATE qpay_intents SET expires_at = now(), next_check_at = now() "
            "WHERE id = ANY($1::uuid[])",
            ids,
        )
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            rows = await connection.fetch(
                "SELECT id::text, status FROM qpay_intents WHERE id = ANY($1::uuid[])",
                ids,
            )
            statuses = {r["id"]: r["status"] for r in rows}
            if all(s != "PENDING" for s in statuses.values()):
                break
            await asyncio.sleep(0.5)
    finally:
        await connection.close()
    for intent in intents:
        if statuses.get(intent.id) == "EXPIRED":
            intent.closed = "EXPIRED"


def start_subscribers(
    processes: list[Process], intents: list[Planned], work: Path
) -> tuple[list[subprocess.Popen[bytes]], list[Path]]:
    # Half on the process that made the intent, half on the other.
    spec_intents = [
        {
            "id": i.id,
            "secret": i.secret,
            "url": processes[(i.creator + n) % 2].service.ws_url,
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
    return clients, results


async def pay_one(
    intent: Planned,
    simulator: QPaySimulator,
    staff: httpx.AsyncClient,
    rng: random.Random,
    counters: Counter[str],
) -> None:
    """The patient pays (or the cashier cancels first and the patient pays
    anyway, its callback lost); 10% of the callbacks are lost, and half of
    them are sent three times."""
    if intent.kind == "cancel":
        await close_first(staff, intent, counters)
        simulator.set_callbacks(drop=True, duplicate=1)
        simulator.pay(intent.qpay, intent.amount, force=True)
        counters["late_after_cancel"] += 1
        return
    dropped = rng.random() < 0.10
    counters["callbacks_dropped"] += dropped
    simulator.set_callbacks(drop=dropped, duplicate=3 if rng.random() < 0.5 else 1)
    if intent.kind == "malformed":
        simulator.pay(intent.qpay, raw_amount="0.001")
    else:
        amount = {
            "exact": intent.amount,
            "partial": intent.amount - Decimal("100.00"),
            "over": intent.amount + Decimal("50.00"),
        }[intent.kind]
        simulator.pay(intent.qpay, amount)
    if rng.random() < 0.2:  # a cashier presses "check"
        _, failed = await staff_call(staff, CHECK, {"id": intent.id})
        counters["graphql_calls"] += 1
        counters["graphql_5xx"] += failed


async def run(args: argparse.Namespace, db_url: str, work: Path) -> dict[str, Any]:
    count = 60 if args.quick else 1000
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
        QPAY_LEDGER_SWEEP_SECONDS="2",
    )
    processes = [Process(0, env, work), Process(1, env, work)]
    started = time.monotonic()
    figures: dict[str, Any] = {"payments": count, "events": events}
    counters: Counter[str] = Counter()
    try:
        await asyncio.gather(*(p.start() for p in processes))
        figures["doubled_qrs"] = await duplicate_creates(
            processes, simulator, 2 if args.quick else 10
        )
        intents = await create_intents(processes, count, rng)
        clients, results = start_subscribers(processes, intents, work)
        for client in clients:
            assert client.stdout is not None
            await asyncio.to_thread(client.stdout.readline)
        await asyncio.sleep(2.0)

        gate.enabled = True
        # A fifth of the e-Barimt creates reach QPay and lose their answer.
        receipts = sum(1 for i in intents if i.ebarimt)
        simulator.fail_next(
            "/ebarimt/create", count=max(1, receipts // 5), status=502, after=True
        )
        staff = staff_client(processes[0].service.url)
        expiring = asyncio.create_task(
            expire(
                db_url,
                [i for i in intents if i.kind == "expire"],
                60 if args.quick else 300,
            )
        )
        pay_started = time.monotonic()
        restart: asyncio.Task[None] | None = None
        paying = [i for i in intents if i.kind != "expire"]
        for n, intent in enumerate(paying):
            await asyncio.sleep(max(0.0, pay_started + n / rate - time.monotonic()))
            if n == len(paying) // 2:
                processes[1].kill()
                figures["listeners_terminated"] = await terminate_listeners(db_url)
                restart = asyncio.create_task(processes[1].start())
            await pay_one(intent, simulator, staff, rng, counters)
        if restart is not None:
            await restart
        await expiring
        await staff.aclose()
        # Late money, every callback lost: a payment after expiry, a second
        # scan of a paid QR, more money on a short-paid (NEEDS_REVIEW) intent.
        simulator.set_callbacks(drop=True, duplicate=1)
        for intent in intents:
            if intent.kind == "expire":
                simulator.pay(intent.qpay, intent.amount, force=True)
                counters["late_after_expiry"] += 1
            elif intent.kind == "partial" or (
                intent.kind == "exact" and rng.random() < 0.15
            ):
                intent.second = True
                simulator.pay(intent.qpay, intent.amount, force=True)
                counters[f"late_second_on_{intent.kind}"] += 1
        figures["pay_seconds"] = round(time.monotonic() - pay_started, 1)

        # Wait until QPay's ledger and ours agree and nothing is pending.
        deadline = time.monotonic() + (180 if args.quick else 900)
        while time.monotonic() < deadline:
            if settled_everywhere(intents, await end_state(db_url), simulator):
                break
            await asyncio.sleep(1.0)
        figures["settle_seconds"] = round(time.monotonic() - pay_started, 1)
        for client in clients:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(client.wait, 60)
            if client.poll() is None:
                client.send_signal(signal.SIGTERM)
                await asyncio.to_thread(client.wait, 30)
        seen: dict[str, Any] = {}
        for result in results:
            if result.exists():
                seen.update(json.loads(result.read_text()))
        await simulator.wait_callbacks()
        state = await end_state(db_url)
    finally:
        gate.enabled = False
        for process in processes:
            process.stop()
        server.should_exit = True
        await asyncio.gather(sim_task, return_exceptions=True)
        await simulator.aclose()

    delivered = [c for c in simulator.callbacks_sent if c.get("status") == 200]
    # Every callback the service answered must be stored; it may store more
    # (a process killed after storing one, before its answer went out).
    answered = Counter(callback_key(c["url"]) for c in delivered)
    checks, found = invariants(
        intents, state, simulator, seen, answered, counters["graphql_5xx"]
    )
    checks["one payable QR per bill when two creates race a slow QPay"] = (
        figures["doubled_qrs"] == 0
    )
    figures.update(found)
    figures.update(
        {
            "seconds": round(time.monotonic() - started, 1),
            "faults_injected": gate.counts,
            "kinds": dict(Counter(i.kind for i in intents)),
            "closed_before_paid": dict(Counter(i.closed for i in intents if i.closed)),
            "with_receipt": sum(1 for i in intents if i.ebarimt),
            "callbacks_sent": len(simulator.callbacks_sent),
            "callbacks_delivered": len(delivered),
            "callbacks_stored": sum(state.callbacks.values()),
            **dict(counters),
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
