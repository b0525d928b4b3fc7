"""Hostile clients against a production-mode instance: what each attack of
issue 13 gets now, and what it costs the service.

    .venv/bin/python -m bench.hostile [--quick]

--quick (for CI) opens fewer sockets, lets idle ones go after 3 s instead of
the default 30 s and cuts subscribers once: it checks that every attack is
still answered, not the figures.

One `qpay-graph serve` child process with ENVIRONMENT=production and the
production defaults for every limit (the other benchmarks raise them, since
their load comes from one address). While each attack runs, a probe asks
/healthz every 50 ms on its own connection: its slowest answer is the
attack's stall of the event loop. The service's resident memory is sampled
at the same time. Then the service is started with unsafe settings and must
refuse, one line per problem. Figures go to docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from bench.common import (
    CREATE_INVOICE,
    CREATE_QPAY,
    JWT_SECRET,
    ROOT,
    arguments,
    asyncpg_url,
    database,
    free_port,
    print_table,
    raise_fd_limit,
    service_env,
    simulator_server,
    staff_client,
    write_results,
)

PROTOCOL = Subprotocol("graphql-transport-ws")
IDLE_SECONDS_QUICK = 3
METRICS_TOKEN = "hostile-metrics-" + "m" * 32
PAYMENT_STATUS = (
    "subscription($id: ID!, $secret: String) { paymentStatus(intentId: $id, "
    "clientSecret: $secret) { version intent { status } } }"
)


def fragment_bomb(levels: int) -> str:
    fragments = " ".join(
        f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(levels)
    )
    return f"query {{ ...F0 }} {fragments} fragment F{levels} on Query {{ __typename }}"


@dataclass
class Running:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


@contextlib.asynccontextmanager
async def production(env: dict[str, str], workdir: Path) -> AsyncIterator[Running]:
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "service.log"
    process = subprocess.Popen(  # our own CLI
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env={**os.environ, **env, "DATA_DIR": str(workdir / "data")},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    running = Running(f"http://127.0.0.1:{port}", process, log)
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(600):
                if process.poll() is not None:
                    raise RuntimeError(log.read_text()[-2000:])
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{running.url}/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@dataclass
class Outcome:
    attack: str
    answer: str
    seconds: float = 0.0
    healthz_max_ms: float = 0.0
    rss_growth_mb: float = 0.0


# The /healthz probe runs in its own process: the attacks are generated on
# this process's event loop (building a 15 MB frame takes it a while), which
# must not count as the service's stall.
PROBE = """
import http.client, os, sys, time
host, port, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
worst = 0.0
print("READY", flush=True)
while not os.path.exists(stop):
    started = time.perf_counter()
    try:
        connection = http.client.HTTPConnection(host, port, timeout=60)
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        connection.close()
    except OSError:
        pass
    worst = max(worst, time.perf_counter() - started)
    time.sleep(0.05)
print(worst, flush=True)
"""


async def measured(
    service: Running, attack: str, run: Callable[[], Awaitable[str]]
) -> Outcome:
    """Run one attack while /healthz is probed and memory sampled."""
    host, port = service.url.removeprefix("http://").split(":")
    stop_file = service.log.parent / "probe.stop"
    stop_file.unlink(missing_ok=True)
    probe = subprocess.Popen(  # this file's own probe
        [sys.executable, "-c", PROBE, host, port, str(stop_file)],
        stdout=subprocess.PIPE,
    )
    assert probe.stdout is not None
    await asyncio.to_thread(probe.stdout.readline)
    rss_before = service.rss_mb()
    rss_peak = rss_before
    sampling = True

    def sample() -> None:
        nonlocal rss_peak
        while sampling:
            rss_peak = max(rss_peak, service.rss_mb())
            time.sleep(0.02)

    sampler = asyncio.create_task(asyncio.to_thread(sample))
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    try:
        answer = await run()
    finally:
        seconds = time.perf_counter() - started
        stop_file.touch()
        sampling = False
        await sampler
        worst = float(await asyncio.to_thread(probe.stdout.readline) or 0)
        probe.wait()
    return Outcome(
        attack,
        answer,
        round(seconds, 2),
        round(worst * 1000, 1),
        round(rss_peak - rss_before, 1),
    )


# --- the attacks -----------------------------------------------------------------


async def post(
    url: str, body: bytes | dict[str, Any], token: str | None = None
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx.AsyncClient(timeout=120) as client:
        return await client.post(f"{url}/graphql", content=content, headers=headers)


def described(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return str(response.status_code)
    errors = body.get("errors") or []
    codes = sorted(
        {
            str((e.get("extensions") or {}).get("code") or e.get("message", ""))[:40]
            for e in errors
        }
    )
    return f"{response.status_code} {', '.join(codes)}".strip()


async def ws_open(url: str, **kwargs: Any) -> ClientConnection:
    return await connect(
        url, subprotocols=[PROTOCOL], compression=None, max_size=None, **kwargs
    )


async def ws_close_code(ws: ClientConnection, within: float = 15.0) -> str:
    try:
        async with asyncio.timeout(within):
            while True:
                await ws.recv()
    except ConnectionClosed as closed:
        return str(closed.rcvd.code if closed.rcvd else 1006)
    except TimeoutError:
        return "still open"


async def raw_exchange(url: str, head: bytes, body_chunks: int, chunk: bytes) -> str:
    """Send `head`, then up to `body_chunks` chunks while the server has not
    answered: the status line it answered with, and how much was sent."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    sent = 0

    async def first_line() -> bytes:
        try:
            async with asyncio.timeout(30):
                return await reader.readline()
        except (ConnectionError, TimeoutError):
            return b""

    answered = asyncio.create_task(first_line())
    try:
        writer.write(head)
        for _ in range(body_chunks):
            if answered.done():
                break
            writer.write(chunk)
            try:
                async with asyncio.timeout(20):
                    await writer.drain()
            except (ConnectionError, TimeoutError):
                break
            sent += len(chunk)
        line = await answered
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    status = line.decode(errors="replace").strip() or "closed without an answer"
    return f"{status} after {(len(head) + sent) / 2**20:.2f} MiB sent"


@dataclass
class Fixture:
    staff: str
    intent_id: str
    secret: str
    callback_url: str


async def setup(service: Running, simulator: Any) -> Fixture:
    async with staff_client(service.url) as client:
        invoice = await client.post(
            "/graphql",
            json={"query": CREATE_INVOICE, "variables": {"input": {"total": "100.00"}}},
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
        staff = client.headers["Authorization"].removeprefix("Bearer ")
    intent_id = payload["intent"]["id"]
    creates = [
        r for r in simulator.requests if str(r.get("path", "")).endswith("/invoice")
    ]
    callback = str(creates[-1]["json"]["callback_url"])
    callback = callback.replace("https://pay.example.mn", service.url)
    assert intent_id in callback
    return Fixture(staff, intent_id, payload["clientSecret"], callback)


async def attacks(
    service: Running, simulator: Any, database_url: str, quick: bool
) -> list[Outcome]:
    fixture = await setup(service, simulator)
    outcomes: list[Outcome] = []
    idle_wait = IDLE_SECONDS_QUICK + 2 if quick else 35
    sockets_per_burst = 20 if quick else 200

    async def run(attack: str, body: Callable[[], Awaitable[str]]) -> None:
        outcome = await measured(service, attack, body)
        outcomes.append(outcome)
        print(outcome, flush=True)

    # 1. Validation cost.
    bomb = {"query": fragment_bomb(22)}
    await run(
        "fragment bomb (22 levels), HTTP, no token",
        lambda: _described(post(service.url, bomb)),
    )
    await run(
        "fragment bomb (190 levels), HTTP, staff token",
        lambda: _described(
            post(service.url, {"query": fragment_bomb(190)}, fixture.staff)
        ),
    )

    async def bomb_over_socket() -> str:
        async with await ws_open(service.ws_url) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            await ws.recv()
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": bomb}))
            answer = json.loads(await ws.recv())
            message = answer["payload"][0]["message"] if answer.get("payload") else ""
            return f"{answer['type']}: {message[:50]}"

    await run("fragment bomb (22 levels), anonymous websocket", bomb_over_socket)
    repeated = "{" + " paymentMethods { method }" * 490 + " }"
    await run(
        "490 repeated top-level fields, staff token",
        lambda: _described(post(service.url, {"query": repeated}, fixture.staff)),
    )

    # 3. Memory and connections.
    async def unfinished_heads() -> str:
        filler = b"X-Filler: " + b"a" * 1000 + b"\r\n"
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        answers = await asyncio.gather(
            *(raw_exchange(service.url, head, 25 * 1024, filler) for _ in range(8))
        )
        kinds = sorted({a.split(" after ")[0] for a in answers})
        most = max(float(a.split(" after ")[1].split()[0]) for a in answers)
        return f"{'; '.join(kinds)}, each after at most {most:.2f} MiB sent"

    await run("8 connections x 25 MB unfinished headers", unfinished_heads)

    async def silent_connections() -> str:
        started = time.perf_counter()
        host, port = service.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        await reader.read()
        writer.close()
        return f"closed after {time.perf_counter() - started:.1f} s"

    await run("a connection that sends nothing", silent_connections)

    async def huge_init_frames() -> str:
        async def one() -> str:
            async with await ws_open(service.ws_url) as ws:
                payload = {"x": "a" * (15 * 2**20)}
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(
                        json.dumps({"type": "connection_init", "payload": payload})
                    )
                return await ws_close_code(ws)

        codes = await asyncio.gather(*(one() for _ in range(20)))
        return "closed " + ", ".join(
            f"{c} x{codes.count(c)}" for c in sorted(set(codes))
        )

    await run("20 websockets x 15 MB connection_init", huge_init_frames)

    async def idle_sockets() -> str:
        count = 300 if quick else 2000
        opened: list[ClientConnection] = []
        refused = 0
        for _ in range(count):
            try:
                opened.append(await ws_open(service.ws_url))
            except InvalidStatus:
                refused += 1
        await asyncio.gather(
            *(
                ws.send(json.dumps({"type": "connection_init", "payload": {}}))
                for ws in opened
            )
        )
        await asyncio.sleep(idle_wait)
        codes = await asyncio.gather(*(ws_close_code(ws, 5) for ws in opened))
        open_after = codes.count("still open")
        for ws in opened:
            with contextlib.suppress(Exception):
                await ws.close()
        return (
            f"{len(opened)} accepted, {refused} refused 403; "
            f"after {idle_wait} s: {open_after} open, closed "
            + ", ".join(f"{c} x{codes.count(c)}" for c in sorted(set(codes)))
        )

    await run(
        f"{300 if quick else 2000} idle anonymous websockets, one address", idle_sockets
    )

    async def big_body(token: str | None) -> str:
        head = (
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + (f"Authorization: Bearer {token}\r\n".encode() if token else b"")
            + f"Content-Length: {100 * 2**20}\r\n\r\n".encode()
        )
        return await raw_exchange(service.url, head, 100 * 16, b"[" * 65536)

    await run("100 MB body, no token", lambda: big_body(None))
    await run("100 MB body, staff token", lambda: big_body(fixture.staff))

    # 8. Malformed input.
    async def malformed() -> str:
        deep = post(service.url, b"[" * 100_000 + b"]" * 100_000, fixture.staff)
        huge_exp = jwt.encode(
            {"sub": "m", "role": "staff", "exp": 1e300}, JWT_SECRET, algorithm="HS256"
        )
        simple = {"query": "{ paymentMethods { method } }"}
        answers = [
            f"deep JSON {(await deep).status_code}",
            f"exp=1e300 {described(await post(service.url, simple, huge_exp))}",
        ]
        async with httpx.AsyncClient() as client:
            nul = await client.get(f"{fixture.callback_url}&x=%00")
            answers.append(f"%00 callback {nul.status_code}")
        return "; ".join(answers)

    await run("100,000-deep JSON; exp=1e300; %00 in a callback", malformed)

    # 4-5. Addresses and brakes.
    async def rotating_forwarded() -> str:
        statuses: list[int] = []
        async with httpx.AsyncClient() as client:
            for n in range(60):
                answer = await client.get(
                    f"{service.url}/qpay/callback/{fixture.intent_id}",
                    params={"token": f"guess-{n}"},
                    headers={"X-Forwarded-For": f"10.0.0.{n}"},
                )
                statuses.append(answer.status_code)
            genuine = await client.get(fixture.callback_url)
        tally = ", ".join(f"{s} x{statuses.count(s)}" for s in sorted(set(statuses)))
        return f"{tally}; then the right token: {genuine.status_code}"

    await run("60 wrong callbacks, rotating X-Forwarded-For", rotating_forwarded)

    async def socket_token_guesses() -> str:
        codes: list[str] = []
        for n in range(60):
            try:
                async with await ws_open(service.ws_url) as ws:
                    payload = {"authorization": f"Bearer guess-{n}"}
                    init = {"type": "connection_init", "payload": payload}
                    await ws.send(json.dumps(init))
                    codes.append(await ws_close_code(ws, 5))
            except InvalidStatus as refused:
                codes.append(str(refused.response.status_code))
        return ", ".join(f"{c} x{codes.count(c)}" for c in sorted(set(codes)))

    await run("60 websocket staff-token guesses", socket_token_guesses)

    async def replayed_callback() -> str:
        checks_before = _checks(simulator)
        path = fixture.callback_url.removeprefix(service.url)
        statuses: list[str] = []

        async def replay(query_bytes: int) -> str:
            query = "&".join(f"k{n}={'v' * 60}" for n in range(query_bytes // 65))
            head = f"GET {path}&{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            answer = await raw_exchange(service.url, head, 0, b"")
            return answer.split(" after ")[0].removeprefix("HTTP/1.1 ")

        too_long = await replay(69_000)
        for _ in range(100):
            statuses.append(await replay(30_000))
        await asyncio.sleep(3)
        rows = await _fetch(
            database_url,
            "SELECT count(*) AS n, coalesce(max(length(query::text)), 0) AS q "
            "FROM qpay_callbacks WHERE intent_id = $1",
            fixture.intent_id,
        )
        tally = ", ".join(f"{s} x{statuses.count(s)}" for s in sorted(set(statuses)))
        return (
            f"69 KB: {too_long}; 30 KB x100: {tally}; {rows['n']} stored "
            f"(largest {rows['q']} chars); {_checks(simulator) - checks_before} "
            "QPay checks"
        )

    await run(
        "a valid callback URL replayed 100 times, long queries", replayed_callback
    )

    # 6. Log noise.
    async def noisy_document() -> str:
        before = service.log.stat().st_size
        directives = " ".join(f"@bad{n}" for n in range(50))
        document = " " * 200_000 + "{ paymentMethods " + directives + " { method } }"
        answer = await post(service.url, {"query": document}, fixture.staff)
        for _ in range(25):
            await post(service.url, {"query": "{ paymentMethods { method } }"})
        await asyncio.sleep(0.5)
        grown = service.log.stat().st_size - before
        errors = service.log.read_text(errors="replace")[before:].count(" ERROR ")
        return f"{answer.status_code}; log grew {grown} bytes, {errors} ERROR lines"

    await run(
        "200 KB whitespace + 50 bad directives, then 25 without a token",
        noisy_document,
    )

    # 7. Orphaned subscriptions.
    variables = {"id": fixture.intent_id, "secret": fixture.secret}
    subscribe = {"query": PAYMENT_STATUS, "variables": variables}

    async def subscribed_sockets() -> list[ClientConnection]:
        sockets = []
        for _ in range(sockets_per_burst):
            ws = await ws_open(service.ws_url)
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            sockets.append(ws)
        for ws in sockets:
            await ws.recv()
        for ws in sockets:
            for n in range(10):
                message = {"id": str(n), "type": "subscribe", "payload": subscribe}
                await ws.send(json.dumps(message))
        for ws in sockets:
            for _ in range(10):
                await ws.recv()  # each subscription's first status
        return sockets

    held: list[ClientConnection] = []

    async def subscription_burst() -> str:
        held.extend(await subscribed_sockets())
        count = await _gauge(service, "graphql_active_subscriptions")
        return f"{int(count)} subscriptions, each with its first status"

    await run(
        f"{sockets_per_burst} anonymous sockets x 10 subscriptions at once",
        subscription_burst,
    )

    async def abandoned_subscriptions() -> str:
        counts = []
        for attempt in range(1 if quick else 3):
            sockets = held if attempt == 0 else await subscribed_sockets()
            await asyncio.sleep(2)
            for ws in sockets:  # gone without a close frame
                raw = ws.transport.get_extra_info("socket")
                with contextlib.suppress(OSError):
                    raw.shutdown(socket.SHUT_RDWR)
            await asyncio.sleep(3)
            counts.append(await _gauge(service, "graphql_active_subscriptions"))
        return "subscriptions left after each run: " + " -> ".join(
            str(int(c)) for c in counts
        )

    await run("those sockets cut mid-stream", abandoned_subscriptions)

    # 9. What production hides.
    async def production_surface() -> str:
        async with httpx.AsyncClient() as client:
            metrics = await client.get(f"{service.url}/metrics")
            scraped = await client.get(
                f"{service.url}/metrics",
                headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
            )
        typo = await post(
            service.url, {"query": "{ paymentMethod { method } }"}, fixture.staff
        )
        hint = "Did you mean" in typo.text
        return (
            f"/metrics {metrics.status_code} without its token, {scraped.status_code} "
            f"with it; suggestions {'shown' if hint else 'hidden'}"
        )

    await run("/metrics and 'did you mean' in production", production_surface)
    return outcomes


async def _described(pending: Awaitable[httpx.Response]) -> str:
    return described(await pending)


def _checks(simulator: Any) -> int:
    return sum(
        1
        for r in simulator.requests
        if str(r.get("path", "")).endswith("/payment/check")
    )


async def _fetch(url: str, sql: str, *args: Any) -> Any:
    connection = await asyncpg.connect(asyncpg_url(url))
    try:
        return await connection.fetchrow(sql, *args)
    finally:
        await connection.close()


async def _gauge(service: Running, name: str) -> float:
    async with httpx.AsyncClient() as client:
        text = (
            await client.get(
                f"{service.url}/metrics",
                headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
            )
        ).text
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    return float("nan")


async def sigterm_seconds(service: Running) -> float:
    """With subscribers connected, how long SIGTERM takes to end the process."""
    sockets = [await ws_open(service.ws_url) for _ in range(50)]
    for ws in sockets:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
    started = time.perf_counter()
    service.process.send_signal(signal.SIGTERM)
    await asyncio.to_thread(service.process.wait, 120)
    for ws in sockets:
        with contextlib.suppress(Exception):
            await ws.close()
    return round(time.perf_counter() - started, 2)


UNSAFE: list[tuple[str, dict[str, str]]] = [
    ("QPAY_ENV unset", {"QPAY_ENV": ""}),
    ("PUBLIC_BASE_URL http", {"PUBLIC_BASE_URL": "http://pay.example.mn"}),
    ("PUBLIC_BASE_URL loopback", {"PUBLIC_BASE_URL": "https://127.0.0.1"}),
    ("AUTH_JWT_SECRET unset", {"AUTH_JWT_SECRET": ""}),
    (
        "QPAY_ENV=live in development",
        {"ENVIRONMENT": "development", "QPAY_ENV": "live"},
    ),
    (
        "JWKS without issuer/audience",
        {"AUTH_JWKS_URL": "https://idp.example.mn/jwks.json"},
    ),
]


def refusals(env: dict[str, str]) -> list[tuple[str, int, str]]:
    rows = []
    for name, change in UNSAFE:
        unsafe = {**os.environ, **env, **change}
        for key in [k for k, v in change.items() if v == ""]:
            unsafe.pop(key, None)
        done = subprocess.run(  # our own CLI
            [sys.executable, "-m", "app.cli", "serve", "--port", str(free_port())],
            env=unsafe,
            capture_output=True,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
        lines = [
            line
            for line in (done.stderr + done.stdout).decode().splitlines()
            if line.strip()
        ]
        rows.append((name, done.returncode, " | ".join(lines)[:140]))
    return rows


async def main_async(database_url: str, quick: bool, out: Path) -> None:
    raise_fd_limit()
    async with simulator_server() as (simulator, simulator_url):
        env = service_env(
            database_url,
            simulator_url,
            ENVIRONMENT="production",
            PUBLIC_BASE_URL="https://pay.example.mn",
            METRICS_TOKEN=METRICS_TOKEN,
            LOG_LEVEL="INFO",
        )
        for limit in ("MAX_WEBSOCKETS_PER_ADDRESS", "MAX_CONNECTIONS"):
            env.pop(limit)  # the production defaults
        if quick:
            env["WEBSOCKET_IDLE_SECONDS"] = str(IDLE_SECONDS_QUICK)
        workdir = out / "hostile"
        async with production(env, workdir) as service:
            outcomes = await attacks(service, simulator, database_url, quick)
            shutdown = await sigterm_seconds(service)
        refused = await asyncio.to_thread(refusals, env)
    rows = [
        (o.attack, o.answer, o.seconds, o.healthz_max_ms, o.rss_growth_mb)
        for o in outcomes
    ]
    print_table(
        "Hostile clients against ENVIRONMENT=production",
        ["attack", "answer", "s", "healthz max ms", "RSS +MB"],
        rows,
    )
    print(f"\nSIGTERM with 50 sockets open: exited in {shutdown} s")
    print_table("Unsafe production settings", ["setting", "exit", "output"], refused)
    path = write_results(
        out,
        "hostile",
        {
            "quick": quick,
            "outcomes": [o.__dict__ for o in outcomes],
            "sigterm_seconds": shutdown,
            "refusals": refused,
        },
    )
    print(f"\nresults: {path}")


def main() -> None:
    args = arguments("Hostile clients against a production-mode instance")
    with database() as database_url:
        asyncio.run(main_async(database_url, args.quick, args.out))


if __name__ == "__main__":
    main()
