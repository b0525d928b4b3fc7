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

Money goes back mid-run, while the faults are on and around the SIGKILL
(REFUND_PLANS, chosen with a seeded random of their own): about 5% of the
paid QPay payments (a few more with --quick) are refunded at QPay outside the
service (its merchant portal, no callback), some on PAID intents a few
seconds after they closed (only the ledger sweep can find those), some on
intents in review or paid after a cancel, a few as soon as the service
recorded the payment, a cashier's check following. Some intents are paid by
card, and a few of those refunded with refundPayment, each key sent twice
(the same refund must come back); one refundPayment goes to the server that
is SIGKILLed while QPay's answer is slow (its PENDING refund is completed by
the ledger sweep, its key replays it after the restart); one on a bank-app
payment must be refused (REFUND_NOT_SUPPORTED). A refunded short-paid intent
takes more money afterwards (its late second payment).

At the end QPay's own ledger (the simulator's record of every payment it
took, and of the ones refunded since) must equal the payments and refunds
tables exactly: every REFUNDED payment refunded once and whole, none refunded
that QPay did not, no refund left PENDING, every invoice and intent holding
its payments less its refunds, each refund in the history once; every
receipt be issued at most once, a refunded payment's receipt returned; and the
other invariants hold. They are checked and printed (bench/chaos_checks.py).

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

from bench.chaos_checks import Planned, end_state, invariants, unsettled
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
REFUND = (
    "mutation($input: RefundPaymentInput!) { refundPayment(input: $input) { "
    "refund { id status amount channel } invoice { paidAmount status } "
    "errors { code message } } }"
)
READ_TIMEOUT = 2.0
# checkQPayPayment asks QPay at most once per intent in this window.
CHECK_WINDOW = 2.0


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


# How an intent's first payment is refunded mid-run (Planned.refund):
REFUND_PLANS = {
    "outside": "at QPay, outside the service, seconds after it was recorded "
    "(a PAID intent is closed by then: only the ledger sweep finds it)",
    "outside_early": "at QPay as soon as the service recorded it, then a "
    "cashier's check",
    "api": "refundPayment on a card payment, its key sent twice",
    "api_killed": "refundPayment on a card payment, on the server SIGKILLed "
    "while QPay's answer is slow; its key sent again after the restart",
    "api_p2p": "refundPayment on a bank-app payment: REFUND_NOT_SUPPORTED",
}


def plan_refunds(intents: list[Planned], rng: random.Random) -> None:
    """Mark who pays by card and which payments are refunded, and how."""
    paying = [i for i in intents if i.kind != "expire"]
    payable = [i for i in paying if i.kind in ("exact", "partial", "over", "cancel")]
    n = len(payable)
    early = {id(i) for i in paying[: len(paying) // 3]}

    def free(pool: list[Planned]) -> list[Planned]:
        return [i for i in pool if i.refund is None and not i.card]

    exact = [i for i in payable if i.kind == "exact"]
    # Paid before the kill, so it can be refunded across it.
    killed = rng.choice([i for i in exact if id(i) in early])
    killed.card, killed.refund = True, "api_killed"
    cards = rng.sample(free(exact), max(4, n // 25))
    for intent in cards:
        intent.card = True
    for intent in cards[: max(2, n // 50)]:
        intent.refund = "api"  # the other card payments stay paid
    rng.choice(free(exact)).refund = "api_p2p"
    for intent in rng.sample(free(exact), max(3, n // 40)):
        intent.refund = "outside"
    # A short-paid intent refunded in review, which its second payment (late,
    # its callback lost) sends back to review; the others overpaid or paid
    # after a cancel.
    rng.choice([i for i in payable if i.kind == "partial"]).refund = "outside"
    others = [i for i in payable if i.kind in ("over", "cancel")]
    for intent in rng.sample(free(others), max(2, n // 50)):
        intent.refund = "outside"
    for intent in rng.sample(free(payable), max(2, n // 50)):
        intent.refund = "outside_early"


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
            for _ in range(3):
                created = await client.post(
                    "/graphql",
                    json={"query": CREATE_QPAY, "variables": {"input": request}},
                )
                payload = created.json()["data"]["createQPayInvoice"]
                # QPAY_UNAVAILABLE (a slow QPay on a loaded machine) is never
                # retried by the service: a cashier presses again.
                codes = {e["code"] for e in payload["errors"]}
                if payload["intent"] is not None or codes != {"QPAY_UNAVAILABLE"}:
                    break
                await asyncio.sleep(0.5)
            if payload["intent"] is None:
                raise RuntimeError(f"createQPayInvoice failed: {payload['errors']}")
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
        intent.payments.append(simulator.pay(intent.qpay, intent.amount, force=True))
        intent.paid_at = time.monotonic()
        counters["late_after_cancel"] += 1
        return
    dropped = rng.random() < 0.10
    counters["callbacks_dropped"] += dropped
    simulator.set_callbacks(drop=dropped, duplicate=3 if rng.random() < 0.5 else 1)
    if intent.kind == "malformed":
        intent.payments.append(simulator.pay(intent.qpay, raw_amount="0.001"))
    else:
        amount = {
            "exact": intent.amount,
            "partial": intent.amount - Decimal("100.00"),
            "over": intent.amount + Decimal("50.00"),
        }[intent.kind]
        intent.payments.append(
            simulator.pay(
                intent.qpay, amount, payment_type="CARD" if intent.card else "P2P"
            )
        )
    intent.paid_at = time.monotonic()
    if rng.random() < 0.2:  # a cashier presses "check"
        _, failed = await staff_call(staff, CHECK, {"id": intent.id})
        counters["graphql_calls"] += 1
        counters["graphql_5xx"] += failed


class Refunds:
    """The mid-run refunds (Planned.refund, REFUND_PLANS): each made once its
    payment is recorded here, and what refundPayment answered."""

    def __init__(
        self,
        db_url: str,
        simulator: QPaySimulator,
        staff: httpx.AsyncClient,
        counters: Counter[str],
    ) -> None:
        self.db_url = db_url
        self.simulator = simulator
        self.staff = staff
        self.counters = counters
        # refundPayment waits for the restart (the killed call first).
        self.api_open = asyncio.Event()
        self.at_kill: dict[str, Any] = {}
        self.answers: Counter[str] = Counter()
        self.tasks: list[asyncio.Task[None]] = []
        self.missed: list[str] = []

    @property
    def api_holds(self) -> bool:
        """Every card refund came back and replayed by its key (the killed
        one too), and the bank-app one was refused."""
        return (
            self.answers["P2P refused REFUND_NOT_SUPPORTED"] == 1
            and sum(n for k, n in self.answers.items() if k.startswith("P2P")) == 1
            and self.answers["card key replayed"] > 0
            and not any(k.startswith("card: ") for k in self.answers)
            and self.at_kill.get("replayed", True) is True
        )

    @staticmethod
    def variables(intent: Planned, payment_id: str) -> dict[str, Any]:
        reason = "chaos run: " + ("card refund" if intent.card else "bank-app refund")
        return {
            "input": {
                "paymentId": payment_id,
                "reason": reason,
                "idempotencyKey": f"chaos-refund-{intent.id}",
            }
        }

    async def run(self, intents: list[Planned], within: float) -> None:
        """Refund each planned payment when it is due, until `within` s."""
        deadline = time.monotonic() + within
        todo = [i for i in intents if i.refund is not None]
        connection = await asyncpg.connect(asyncpg_url(self.db_url))
        try:
            while todo and time.monotonic() < deadline:
                paid = [i for i in todo if i.payments]
                recorded = await _recorded(connection, [i.payments[0] for i in paid])
                for intent in paid:
                    row = recorded.get(intent.payments[0])
                    if row is None or not self._due(intent, row["status"]):
                        continue
                    todo.remove(intent)
                    self._start(intent, row["payment_id"])
                await asyncio.sleep(0.2)
        finally:
            await connection.close()
        self.missed = [f"{i.kind} {i.refund}" for i in todo]
        await asyncio.gather(*self.tasks)

    def _due(self, intent: Planned, status: str) -> bool:
        waited = time.monotonic() - intent.paid_at
        if intent.refund == "outside_early":
            return True
        if intent.refund == "outside":
            # After its intent closed (a PAID intent is no longer polled).
            closed = intent.kind != "exact" or status == "PAID" or waited > 20
            return waited >= 3.0 and closed
        return self.api_open.is_set()

    def _start(self, intent: Planned, payment_id: str) -> None:
        if intent.refund in ("outside", "outside_early"):
            self.simulator.refund_outside(intent.payments[0])
            intent.refunded_at = time.time()
            self.counters[f"refunded_{intent.refund}"] += 1
            if intent.refund == "outside_early":
                self.tasks.append(asyncio.create_task(self._check(intent)))
        else:
            self.tasks.append(
                asyncio.create_task(self._through_api(intent, payment_id))
            )

    async def _check(self, intent: Planned) -> None:
        """A cashier presses "check" (once the window of the last one is over)."""
        await asyncio.sleep(CHECK_WINDOW + 0.1)
        _, failed = await staff_call(self.staff, CHECK, {"id": intent.id})
        self.counters["graphql_calls"] += 1
        self.counters["graphql_5xx"] += failed

    async def _ask(
        self, variables: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, list[str]]:
        """refundPayment until it gives a refund or refuses for good (QPay's
        injected faults give QPAY_UNAVAILABLE: nothing was written, ask again)."""
        codes: list[str] = []
        for _ in range(12):
            payload, failed = await staff_call(self.staff, REFUND, variables)
            self.counters["graphql_calls"] += 1
            self.counters["graphql_5xx"] += failed
            codes = [e["code"] for e in (payload or {}).get("errors") or []]
            refund = (payload or {}).get("refund")
            if refund is not None or "REFUND_NOT_SUPPORTED" in codes:
                return refund, codes
            await asyncio.sleep(0.5)
        return None, codes

    async def _through_api(self, intent: Planned, payment_id: str) -> None:
        variables = self.variables(intent, payment_id)
        refund, codes = await self._ask(variables)
        if intent.refund == "api_p2p":
            answer = (
                "refused REFUND_NOT_SUPPORTED"
                if refund is None and "REFUND_NOT_SUPPORTED" in codes
                else f"answered {refund and refund['status']} {codes}"
            )
            self.answers[f"P2P {answer}"] += 1
            return
        if refund is None:
            self.answers[f"card: no refund {codes}"] += 1
            return
        self.counters["refunded_through_api"] += 1
        self.answers[f"card {refund['status']}"] += 1
        if intent.refund == "api_killed":
            self.at_kill["replayed"] = await self._replays_killed(refund["id"])
        again, _ = await self._ask(variables)
        same = again is not None and again["id"] == refund["id"]
        self.answers["card key replayed" if same else "card: key NOT replayed"] += 1

    async def _replays_killed(self, refund_id: str) -> bool:
        """The killed call's refund comes back, unless it is gone (QPay
        refused it before the kill: the key went with it)."""
        left = self.at_kill.get("refund_id")
        if left is None or left == refund_id:
            return True
        connection = await asyncpg.connect(asyncpg_url(self.db_url))
        try:
            return not await connection.fetchval(
                "SELECT count(*) FROM refunds WHERE id = $1::uuid", left
            )
        finally:
            await connection.close()

    async def across_kill(self, intent: Planned, process: Process) -> None:
        """refundPayment on `process` while QPay is slow to answer: once QPay
        has refunded, the process is SIGKILLed mid-call (its refund is left
        PENDING, for the ledger sweep or a replay of its key)."""
        connection = await asyncpg.connect(asyncpg_url(self.db_url))
        client = staff_client(process.service.url)
        try:
            payment_id = await _wait_recorded(connection, intent, within=10.0)
            if payment_id is None:
                self.at_kill["left"] = "its payment was not recorded in time"
                return
            qpay_id = intent.payments[0]
            self.simulator.delay_next(
                f"/payment/refund/{qpay_id}", 5.0, method="DELETE", after=True
            )
            # Asked again (the same key) while an injected fault keeps the
            # call from QPay, until QPay has refunded: then its answer waits.
            variables = self.variables(intent, payment_id)
            sim = self.simulator.state.payments[qpay_id]
            calls: list[asyncio.Task[tuple[dict[str, Any] | None, bool]]] = []
            deadline = time.monotonic() + 5.0
            while sim.status != "REFUNDED" and time.monotonic() < deadline:
                if not calls or calls[-1].done():
                    calls.append(
                        asyncio.create_task(staff_call(client, REFUND, variables))
                    )
                await asyncio.sleep(0.02)
            row = await connection.fetchrow(
                "SELECT id::text, status FROM refunds WHERE payment_id = $1::uuid",
                payment_id,
            )
            process.kill()
            for answer in await asyncio.gather(*calls, return_exceptions=True):
                self.counters["graphql_calls"] += 1
                self.counters["graphql_5xx"] += isinstance(answer, tuple) and answer[1]
            self.at_kill.update(
                {
                    "calls": len(calls),
                    "qpay": sim.status,
                    "refund_id": row["id"] if row else None,
                    "left": row["status"] if row else None,
                }
            )
            if sim.status == "REFUNDED":
                intent.refunded_at = time.time()
        finally:
            process.kill()
            await client.aclose()
            await connection.close()


async def _recorded(
    connection: asyncpg.Connection, qpay_ids: list[str]
) -> dict[str, asyncpg.Record]:
    """The recorded payments among these QPay ids, with their intent's status."""
    if not qpay_ids:
        return {}
    rows = await connection.fetch(
        "SELECT p.id::text AS payment_id, p.qpay_txn_id, i.status "
        "FROM payments p JOIN qpay_intents i ON i.id = p.intent_id "
        "WHERE p.qpay_txn_id = ANY($1::text[])",
        qpay_ids,
    )
    return {r["qpay_txn_id"]: r for r in rows}


async def _wait_recorded(
    connection: asyncpg.Connection, intent: Planned, within: float
) -> str | None:
    """Our id of the intent's first payment once recorded (None: not in time)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if intent.payments:
            row = (await _recorded(connection, intent.payments[:1])).get(
                intent.payments[0]
            )
            if row is not None:
                return str(row["payment_id"])
        await asyncio.sleep(0.1)
    return None


def refunds_of(
    intents: list[Planned], plan: str, refunds: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The refund rows of the payments refunded by `plan` (a refusal leaves
    none: nothing was written)."""
    paid = {i.payments[0] for i in intents if i.refund == plan and i.payments}
    return [r for r in refunds if r["qpay_txn_id"] in paid]


def found_after(
    intents: list[Planned], refunds: list[dict[str, Any]]
) -> dict[str, float]:
    """How long after QPay refunded (outside the service, or the killed call)
    each refund was completed here: the longest per plan."""
    refunded = {i.payments[0]: i for i in intents if i.refunded_at is not None}
    longest: dict[str, float] = {}
    for refund in refunds:
        planned = refunded.get(refund["qpay_txn_id"])
        if planned is None or planned.refunded_at is None or not refund["completed_at"]:
            continue
        seconds = refund["completed_at"].timestamp() - planned.refunded_at
        plan = str(planned.refund)
        longest[plan] = round(max(longest.get(plan, 0.0), seconds), 1)
    return longest


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
    clients: list[subprocess.Popen[bytes]] = []
    try:
        await asyncio.gather(*(p.start() for p in processes))
        figures["doubled_qrs"] = await duplicate_creates(
            processes, simulator, 2 if args.quick else 10
        )
        intents = await create_intents(processes, count, rng)
        # Its own random: the run's other choices stay as they were.
        plan_refunds(intents, random.Random(19))
        killed = next(i for i in intents if i.refund == "api_killed")
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
        refunds = Refunds(db_url, simulator, staff, counters)
        refunding = asyncio.create_task(
            refunds.run(intents, within=90 if args.quick else 300)
        )
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
                await refunds.across_kill(killed, processes[1])
                processes[1].kill()
                figures["listeners_terminated"] = await terminate_listeners(db_url)
                restart = asyncio.create_task(processes[1].start())
            await pay_one(intent, simulator, staff, rng, counters)
        if restart is not None:
            await restart
        refunds.api_open.set()
        await expiring
        await refunding
        await staff.aclose()
        # Late money, every callback lost: a payment after expiry, a second
        # scan of a paid QR, more money on a short-paid (NEEDS_REVIEW) intent.
        simulator.set_callbacks(drop=True, duplicate=1)
        for intent in intents:
            if intent.kind == "expire":
                intent.payments.append(
                    simulator.pay(intent.qpay, intent.amount, force=True)
                )
                counters["late_after_expiry"] += 1
            elif intent.kind == "partial" or (
                intent.kind == "exact" and rng.random() < 0.15
            ):
                intent.second = True
                intent.payments.append(
                    simulator.pay(intent.qpay, intent.amount, force=True)
                )
                counters[f"late_second_on_{intent.kind}"] += 1
                counters["late_second_after_refund"] += intent.refunded_at is not None
        figures["pay_seconds"] = round(time.monotonic() - pay_started, 1)

        # Wait until QPay's ledger and ours agree and nothing is pending.
        deadline = time.monotonic() + (180 if args.quick else 900)
        waited: Counter[str] = Counter()  # what it waited for, in rounds
        while time.monotonic() < deadline:
            left = unsettled(intents, await end_state(db_url), simulator)
            if not left:
                break
            waited.update(left)
            await asyncio.sleep(1.0)
        figures["settle_waited_on"] = dict(waited)
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
        for client in clients:  # still running only when the run failed
            if client.poll() is None:
                client.kill()
                client.wait(10)
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
    checks[
        "refundPayment: a card refund's key gives the same refund again (after "
        "a SIGKILL too); a bank-app payment is refused REFUND_NOT_SUPPORTED, "
        "nothing written"
    ] = refunds.api_holds and not refunds_of(intents, "api_p2p", state.refunds)
    figures.update(found)
    figures.update(
        {
            "seconds": round(time.monotonic() - started, 1),
            "faults_injected": gate.counts,
            "kinds": dict(Counter(i.kind for i in intents)),
            "closed_before_paid": dict(Counter(i.closed for i in intents if i.closed)),
            "paid_by_card": sum(1 for i in intents if i.card),
            "refunds_planned": dict(Counter(i.refund for i in intents if i.refund)),
            "refunds_not_made": refunds.missed,
            "refund_answers": dict(refunds.answers),
            "refund_across_kill": refunds.at_kill,
            "refund_found_after_seconds": found_after(intents, state.refunds),
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
