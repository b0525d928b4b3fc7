"""floor: the service's CPU per payment against a floor (issue 18, item 1).

The floor is the same physical I/O per payment with nothing else: a bare ASGI
app under uvicorn (httptools, uvloop when installed, websockets without
per-message deflate) that

    answers QPay's callback GET /qpay/callback/{intentId}?token=...&qpay_payment_id=...
        with 200 SUCCESS at once, then
    reads the intent by primary key (its QPay invoice id; the token checked),
    asks QPay: POST /v2/payment/check with a bearer token, through the httpx
        client the service uses (qpay.exchange.make_http_client),
    runs ONE asyncpg transaction: insert the payment, update the intent,
        pg_notify, and
    its LISTEN connection (same process) sends ONE graphql-transport-ws `next`
        frame, shaped as the service's, to the socket watching that intent.

Its websocket route speaks enough graphql-transport-ws (connection_init ->
connection_ack, subscribe -> a snapshot `next` read from its table, ping ->
pong) for bench/clients.py, so the service and the floor are driven by the
same simulator code, the same subscriber processes and the same payer.

One run measures the service (`qpay-graph serve`, one process,
EVENTS_URL=postgres, exactly as push_latency's "same process" variant) and
then the floor, at 10 and 50 payments/s, and reports each one's server CPU
(user + system) from the first payment to the last subscriber's report,
divided by the payments, and the ratio service / floor.

    python -m bench.floor [--quick] [--profile]
    python -m bench.floor serve --port P --dsn DSN --qpay URL   (the floor server)

--profile then runs the floor and the service once more each at 50/s under
py-spy (bench/profile.py) and reports, library by library, what each one's
own CPU costs per payment and the difference: the profile of the cost the
service has beyond the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import secrets
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import asyncpg
import httpx
import uvicorn

from bench.common import (
    RESULTS,
    ROOT,
    Intent,
    Service,
    Subscribers,
    asyncpg_url,
    database,
    free_port,
    percentiles,
    print_table,
    raise_fd_limit,
    simulator_server,
    wait_ready,
    write_results,
)
from bench.profile import (
    breakdown,
    our_functions,
    py_spy,
    start_py_spy,
    stop_py_spy,
)
from bench.push_latency import (
    SETTLE_SECONDS,
    latencies,
    measure,
    pay_at_rate,
    service_cpu,
)
from qpay.exchange import make_http_client
from qpay.simulator.service import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

CHANNEL = "bench_floor"
SUBPROTOCOL = "graphql-transport-ws"
# As app/server.py: websocket frames up to 64 KiB, idle keep-alive 5 s.
WEBSOCKET_MAX_FRAME_BYTES = 64 * 1024
TIMEOUT_KEEP_ALIVE = 5
TARGET_RATIO = 2.0
TARGET_MS = 6.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS bench_floor_intent (
    id uuid PRIMARY KEY,
    qpay_invoice_id text NOT NULL,
    callback_token text NOT NULL,
    client_secret text NOT NULL,
    amount numeric(14, 2) NOT NULL,
    status text NOT NULL DEFAULT 'PENDING',
    version integer NOT NULL DEFAULT 1,
    paid_at timestamptz
);
CREATE TABLE IF NOT EXISTS bench_floor_payment (
    qpay_payment_id text PRIMARY KEY,
    intent_id uuid NOT NULL REFERENCES bench_floor_intent (id),
    amount numeric(14, 2) NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
"""
READ_INTENT = (
    "SELECT qpay_invoice_id, callback_token FROM bench_floor_intent WHERE id = $1"
)
READ_SNAPSHOT = (
    "SELECT client_secret, status, version FROM bench_floor_intent WHERE id = $1"
)
INSERT_PAYMENT = (
    "INSERT INTO bench_floor_payment (qpay_payment_id, intent_id, amount) "
    "VALUES ($1, $2, $3) ON CONFLICT (qpay_payment_id) DO NOTHING"
)
MARK_PAID = (
    "UPDATE bench_floor_intent SET status = 'PAID', version = version + 1, "
    "paid_at = now() WHERE id = $1 AND status <> 'PAID' RETURNING version"
)
NOTIFY = "SELECT pg_notify($1, $2)"

Receive = Callable[[], Coroutine[Any, Any, dict[str, Any]]]
Send = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]


# --- the floor server (a child process) -----------------------------------------


class Floor:
    """The ASGI app: one callback route, /readyz, and a websocket route."""

    def __init__(self, dsn: str, qpay_url: str) -> None:
        self._dsn = dsn
        self._qpay_url = qpay_url
        self._pool: asyncpg.Pool[Any] | None = None
        self._listener: asyncpg.Connection[Any] | None = None
        self._http: httpx.AsyncClient | None = None
        self._bearer = ""
        # intent id -> the sockets watching it: (send, subscription id)
        self._watchers: dict[str, list[tuple[Send, str]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(
        self, scope: dict[str, Any], receive: Receive, send: Send
    ) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http_request(scope, send)
        elif kind == "websocket":
            await self._websocket(receive, send, scope)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    # lifespan: connections, the LISTEN, the QPay token

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self._start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start(self) -> None:
        self._pool = await asyncpg.create_pool(self._dsn, min_size=4, max_size=10)
        self._listener = await asyncpg.connect(self._dsn)
        await self._listener.add_listener(CHANNEL, self._on_notify)
        self._http = make_http_client(f"{self._qpay_url}/v2")
        login = await self._http.post(
            "/auth/token", auth=(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET)
        )
        login.raise_for_status()
        self._bearer = f"Bearer {login.json()['access_token']}"

    async def _stop(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
        if self._listener is not None:
            await self._listener.close()
        if self._pool is not None:
            await self._pool.close()

    # HTTP: the callback, answered at once; the payment settled in a task

    async def _http_request(self, scope: dict[str, Any], send: Send) -> None:
        path: str = scope["path"]
        status, body = 404, b"not found"
        if path.startswith("/qpay/callback/"):
            query = parse_qs(scope["query_string"].decode("latin-1"))
            token = query.get("token", [""])[0]
            intent_id = path.rsplit("/", 1)[-1]
            task = asyncio.create_task(self._settle(intent_id, token))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            status, body = 200, b"SUCCESS"
        elif path == "/readyz":
            status, body = 200, b"ready"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _settle(self, intent_id: str, token: str) -> None:
        assert self._pool is not None
        assert self._http is not None
        try:
            key = uuid.UUID(intent_id)
        except ValueError:
            return
        intent = await self._pool.fetchrow(READ_INTENT, key)
        if intent is None or not hmac.compare_digest(
            intent["callback_token"].encode(), token.encode()
        ):
            return
        body = {
            "object_type": "INVOICE",
            "object_id": intent["qpay_invoice_id"],
            "offset": {"page_number": 1, "page_limit": 100},
        }
        response = await self._http.post(
            "/payment/check",
            content=json.dumps(body).encode(),
            headers={"Authorization": self._bearer, "Content-Type": "application/json"},
        )
        answer = json.loads(response.content, parse_float=Decimal)
        paid = [row for row in answer["rows"] if row["payment_status"] == "PAID"]
        if not paid:
            return
        async with self._pool.acquire() as connection, connection.transaction():
            for row in paid:
                await connection.execute(
                    INSERT_PAYMENT,
                    row["payment_id"],
                    key,
                    Decimal(str(row["payment_amount"])),
                )
            version = await connection.fetchval(MARK_PAID, key)
            if version is not None:
                await connection.execute(NOTIFY, CHANNEL, f"{key} {version}")

    def _on_notify(
        self, _connection: object, _pid: int, _channel: str, payload: object
    ) -> None:
        if not isinstance(payload, str):
            return
        intent_id, version = payload.split(" ")
        for send, subscription in self._watchers.get(intent_id, ()):
            frame = {
                "id": subscription,
                "type": "next",
                "payload": {
                    "data": {
                        "paymentStatus": {
                            "settled": True,
                            "version": int(version),
                            "intent": {"status": "PAID"},
                        }
                    }
                },
            }
            task = asyncio.create_task(
                send({"type": "websocket.send", "text": json.dumps(frame)})
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # websocket: enough graphql-transport-ws for bench/clients.py

    async def _websocket(self, receive: Receive, send: Send, scope: Any) -> None:
        await receive()  # websocket.connect
        if SUBPROTOCOL not in scope.get("subprotocols", []):
            await send({"type": "websocket.close", "code": 4406})
            return
        await send({"type": "websocket.accept", "subprotocol": SUBPROTOCOL})
        watching: list[tuple[str, tuple[Send, str]]] = []
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                data = json.loads(message.get("text") or message.get("bytes") or "{}")
                kind = data.get("type")
                if kind == "connection_init":
                    await send_json(send, {"type": "connection_ack"})
                elif kind == "ping":
                    await send_json(send, {"type": "pong"})
                elif kind == "subscribe":
                    watched = await self._subscribe(send, data)
                    if watched is not None:
                        watching.append(watched)
        finally:
            for intent_id, entry in watching:
                entries = self._watchers.get(intent_id, [])
                if entry in entries:
                    entries.remove(entry)
                if not entries:
                    self._watchers.pop(intent_id, None)

    async def _subscribe(
        self, send: Send, data: dict[str, Any]
    ) -> tuple[str, tuple[Send, str]] | None:
        assert self._pool is not None
        subscription = str(data.get("id", ""))
        variables = data.get("payload", {}).get("variables", {})
        try:
            key = uuid.UUID(str(variables.get("id")))
        except ValueError:
            key = None
        row = None if key is None else await self._pool.fetchrow(READ_SNAPSHOT, key)
        secret = str(variables.get("secret", ""))
        if row is None or not hmac.compare_digest(
            row["client_secret"].encode(), secret.encode()
        ):
            error = {"message": "not found"}
            await send_json(
                send, {"id": subscription, "type": "error", "payload": [error]}
            )
            return None
        entry = (send, subscription)
        self._watchers.setdefault(str(key), []).append(entry)
        status = {
            "settled": row["status"] == "PAID",
            "version": row["version"],
            "intent": {"status": row["status"]},
        }
        await send_json(
            send,
            {
                "id": subscription,
                "type": "next",
                "payload": {"data": {"paymentStatus": status}},
            },
        )
        return str(key), entry


async def send_json(send: Send, message: dict[str, Any]) -> None:
    await send({"type": "websocket.send", "text": json.dumps(message)})


def floor_config(app: Floor, port: int) -> uvicorn.Config:
    """uvicorn as app/server.py's uvicorn_config runs the service, less what
    only guards against hostile clients (the head-size and head-time checks of
    GuardedHttpProtocol, the connection limit) and the access log."""
    return uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http="httptools",
        ws="auto",
        loop="auto",
        ws_max_size=WEBSOCKET_MAX_FRAME_BYTES,
        ws_per_message_deflate=False,
        timeout_keep_alive=TIMEOUT_KEEP_ALIVE,
        server_header=False,
        access_log=False,
        log_config=None,
        lifespan="on",
        backlog=4096,
    )


def serve(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor serve")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", required=True, help="asyncpg DSN")
    parser.add_argument("--qpay", required=True, help="the simulator's base URL")
    args = parser.parse_args(argv)
    uvicorn.Server(floor_config(Floor(args.dsn, args.qpay), args.port)).run()


# --- the driver --------------------------------------------------------------------


async def create_schema(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(SCHEMA)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def floor_server(
    dsn: str, simulator_url: str, log_dir: Path
) -> AsyncIterator[Service]:
    log_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = log_dir / "floor.log"
    process = subprocess.Popen(  # our own script
        [
            sys.executable,
            "-m",
            "bench.floor",
            "serve",
            "--port",
            str(port),
            "--dsn",
            dsn,
            "--qpay",
            simulator_url,
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    server = Service(f"http://127.0.0.1:{port}", process, log)
    try:
        await wait_ready(server)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(30)
        if process.poll() is None:
            process.kill()


async def make_floor_intents(
    dsn: str, simulator_url: str, floor_url: str, count: int
) -> list[Intent]:
    """`count` QPay invoices at the simulator, each with a floor intent whose
    callback URL points at the floor (as the service's createQPayInvoice)."""
    rows: list[tuple[uuid.UUID, str, str, str, Decimal]] = []
    async with httpx.AsyncClient(base_url=f"{simulator_url}/v2", timeout=30) as http:
        login = await http.post(
            "/auth/token", auth=(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET)
        )
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        for n in range(count):
            intent_id = uuid.uuid4()
            token = secrets.token_urlsafe(24)
            amount = Decimal(1000 + n)
            created = await http.post(
                "/invoice",
                headers=bearer,
                json={
                    "invoice_code": "TEST_INVOICE",
                    "sender_invoice_no": str(intent_id),
                    "invoice_receiver_code": "terminal",
                    "invoice_description": "bench floor",
                    "amount": str(amount),
                    "callback_url": (
                        f"{floor_url}/qpay/callback/{intent_id}?token={token}"
                    ),
                },
            )
            created.raise_for_status()
            invoice_id = created.json()["invoice_id"]
            rows.append(
                (intent_id, invoice_id, token, secrets.token_urlsafe(24), amount)
            )
    connection = await asyncpg.connect(dsn)
    try:
        await connection.executemany(
            "INSERT INTO bench_floor_intent (id, qpay_invoice_id, callback_token, "
            "client_secret, amount) VALUES ($1, $2, $3, $4, $5)",
            rows,
        )
    finally:
        await connection.close()
    return [Intent(str(row[0]), row[1], row[3]) for row in rows]


async def measure_floor(
    rates: list[int],
    seconds: float,
    dsn: str,
    workdir: Path,
    profile: Path | None = None,
) -> list[dict[str, Any]]:
    """push_latency's measure() with the floor in place of the service."""
    rows = []
    async with (
        simulator_server() as (simulator, simulator_url),
        floor_server(dsn, simulator_url, workdir) as floor,
    ):
        for rate in rates:
            count = max(10, int(rate * seconds))
            intents = await make_floor_intents(dsn, simulator_url, floor.url, count)
            subscribers = Subscribers()
            await subscribers.start([floor.ws_url], intents, workdir / str(rate))
            await asyncio.sleep(SETTLE_SECONDS)
            simulator.callbacks_sent.clear()
            spy = None if profile is None else await start_py_spy(floor, profile)
            cpu_before = service_cpu([floor])
            await pay_at_rate(simulator, intents, rate)
            seen = await subscribers.results(within=60)
            cpu = service_cpu([floor]) - cpu_before
            if spy is not None:
                await stop_py_spy(spy)
            values = latencies(simulator, intents, seen)
            rows.append(
                {
                    "variant": "floor",
                    "rate": rate,
                    "payments": count,
                    "missing": count - len(values),
                    "service_cpu_ms_per_payment": round(1000 * cpu / count, 2),
                    **percentiles(values),
                    "latencies_s": values,
                }
            )
    return rows


# --- where the CPU goes (py-spy, --profile) ---------------------------------------


async def profiles(seconds: float, db_url: str, dsn: str, work: Path) -> dict[str, Any]:
    """The floor, then the service, once more each at 50/s under py-spy."""
    if py_spy() is None:
        raise SystemExit("--profile needs py-spy (the bench extra, PATH or PY_SPY)")
    floor_raw, service_raw = work / "floor-profile.txt", work / "service-profile.txt"
    (floor_row,) = await measure_floor(
        [50], seconds, dsn, work / "floor-profiled", floor_raw
    )
    (service_row,) = await measure(
        "service",
        "postgres",
        1,
        [50],
        seconds,
        db_url,
        work / "profiled",
        profile=service_raw,
    )
    service = breakdown(service_raw, service_row["service_cpu_ms_per_payment"])
    service["our_functions"] = our_functions(service_raw)
    return {
        "floor": breakdown(floor_raw, floor_row["service_cpu_ms_per_payment"]),
        "service": service,
    }


def print_profiles(profile: dict[str, Any]) -> None:
    """Side by side, in ms per payment: what each library costs the service
    and the floor, and the difference (the cost the floor does not have)."""
    floor = {name: ms for name, _, ms in profile["floor"]["by_library"]}
    service = {name: ms for name, _, ms in profile["service"]["by_library"]}
    names = sorted(set(floor) | set(service), key=lambda n: -(service.get(n) or 0))
    rows = [
        [
            name,
            service.get(name, 0.0),
            floor.get(name, 0.0),
            round((service.get(name) or 0.0) - (floor.get(name) or 0.0), 2),
        ]
        for name in names
    ]
    rows.append(
        [
            "total (CPU ms per payment of the profiled runs)",
            profile["service"]["cpu_ms_per_payment"],
            profile["floor"]["cpu_ms_per_payment"],
            round(
                profile["service"]["cpu_ms_per_payment"]
                - profile["floor"]["cpu_ms_per_payment"],
                2,
            ),
        ]
    )
    print_table(
        "own CPU at 50/s by library, ms per payment (py-spy, "
        f"{profile['service']['samples']} and {profile['floor']['samples']} samples)",
        ["library", "service", "floor", "service - floor"],
        rows,
    )
    for who in ("service", "floor"):
        print_table(
            f"the {who}'s top frames by own CPU",
            ["frame", "share %"],
            profile[who]["top_frames"],
        )
    print_table(
        "the service's own functions by inclusive CPU (what the samples serve)",
        ["function", "share %"],
        profile["service"]["our_functions"],
    )


# --- the run ---------------------------------------------------------------------


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    service = {r["rate"]: r for r in rows if r["variant"] == "service"}
    floor = {r["rate"]: r for r in rows if r["variant"] == "floor"}
    out = []
    for rate in sorted(service.keys() & floor.keys()):
        ours = service[rate]["service_cpu_ms_per_payment"]
        base = floor[rate]["service_cpu_ms_per_payment"]
        ratio = round(ours / base, 2) if base else None
        out.append(
            {
                "rate": rate,
                "service_cpu_ms_per_payment": ours,
                "floor_cpu_ms_per_payment": base,
                "ratio": ratio,
                "meets_ratio_target": ratio is not None and ratio <= TARGET_RATIO,
                "meets_ms_target": ours <= TARGET_MS,
            }
        )
    return out


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few seconds, for CI")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="then profile the floor at 50/s with py-spy",
    )
    return parser.parse_args()


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2:])
        return
    args = arguments()
    raise_fd_limit()
    with database() as db_url, tempfile.TemporaryDirectory(prefix="qpg-floor-") as tmp:
        asyncio.run(run(args, db_url, Path(tmp)))


async def run(args: argparse.Namespace, db_url: str, work: Path) -> None:
    rates = [10] if args.quick else [10, 50]
    seconds = 2.0 if args.quick else 6.0
    dsn = asyncpg_url(db_url)
    await create_schema(dsn)
    rows = await measure("service", "postgres", 1, rates, seconds, db_url, work)
    rows += await measure_floor(rates, seconds, dsn, work / "floor")
    compared = ratios(rows)
    profile = None
    if args.profile:
        profile = await profiles(seconds, db_url, dsn, work)
    print_table(
        "floor: callback sent -> subscriber holds settled PAID; server CPU",
        [
            "variant",
            "rate/s",
            "payments",
            "missing",
            "p50 ms",
            "p99 ms",
            "CPU ms/payment",
        ],
        [
            [
                r["variant"],
                r["rate"],
                r["payments"],
                r["missing"],
                r.get("p50_ms"),
                r.get("p99_ms"),
                r["service_cpu_ms_per_payment"],
            ]
            for r in rows
        ],
    )
    print_table(
        f"service CPU per payment against the floor (targets: <= {TARGET_RATIO}x "
        f"and <= {TARGET_MS} ms)",
        ["rate/s", "service ms", "floor ms", "ratio", "<= 2x", "<= 6 ms"],
        [
            [
                c["rate"],
                c["service_cpu_ms_per_payment"],
                c["floor_cpu_ms_per_payment"],
                c["ratio"],
                "met" if c["meets_ratio_target"] else "missed",
                "met" if c["meets_ms_target"] else "missed",
            ]
            for c in compared
        ],
    )
    if profile is not None:
        print_profiles(profile)
    path = write_results(
        args.out,
        "floor",
        {"quick": args.quick, "rows": rows, "ratios": compared, "profile": profile},
    )
    print_table("written", ["file"], [[str(path)]])


if __name__ == "__main__":
    main()
