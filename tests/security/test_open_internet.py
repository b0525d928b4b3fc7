"""What an unauthenticated client can make the service do over real sockets
(issue 13, items 3, 4, 5, 7 and 8): uvicorn as `serve` configures it
(app/server.py), the worst inputs we can think of, and bounded answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from app.main import FAILED_CALLBACKS_PER_MINUTE, create_app
from app.server import MAX_HEADER_BYTES, WEBSOCKET_MAX_FRAME_BYTES, uvicorn_config
from app.settings import Settings
from app.staff_tokens import StaffTokens
from qpay.simulator import QPaySimulator
from tests import db
from tests.conftest import TEST_JWT_SECRET, SettingsFactory
from tests.e2e.servers import free_port, serve_in_process
from tests.gql import CREATE_INVOICE, CREATE_QPAY, PAYMENT_STATUS, gql

pytestmark = [pytest.mark.db, pytest.mark.anyio, pytest.mark.e2e]

PROTOCOL = Subprotocol("graphql-transport-ws")
HEADER_TIMEOUT = 2.0


@dataclass
class Served:
    url: str
    port: int
    app: Any
    simulator: QPaySimulator
    token: str

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"

    async def gql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            return await gql(
                client, query, variables, token=self.token, url=f"{self.url}/graphql"
            )


@contextlib.asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[Served]:
    """The app under uvicorn configured exactly as `qpay-graph serve` does."""
    simulator = QPaySimulator()
    async with serve_in_process(simulator.app) as simulator_url:
        port = free_port()
        settings = settings.model_copy(
            update={
                "qpay_env": "sandbox",
                "qpay_base_url": f"{simulator_url}/v2",
                "qpay_client_id": "TEST_MERCHANT",
                "qpay_client_secret": SecretStr("123456"),
                "qpay_invoice_code": "TEST_INVOICE",
                "public_base_url": f"http://127.0.0.1:{port}",
            }
        )
        app = create_app(settings)
        config = uvicorn_config(
            app, settings, host="127.0.0.1", port=port, header_timeout=HEADER_TIMEOUT
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        try:
            async with asyncio.timeout(20):
                while not server.started:
                    await asyncio.sleep(0.02)
            yield Served(
                f"http://127.0.0.1:{port}",
                port,
                app,
                simulator,
                StaffTokens(TEST_JWT_SECRET).issue(subject="security"),
            )
        finally:
            server.should_exit = True
            await asyncio.gather(task, return_exceptions=True)
    await simulator.aclose()


@pytest.fixture
async def live(clean_db: str, make_settings: SettingsFactory) -> AsyncIterator[Served]:
    settings = make_settings(
        database_url=clean_db,
        events_url="postgres",
        max_websockets_per_address=5,
        websocket_idle_seconds=1,
    )
    async with served(settings) as running:
        yield running


async def raw_exchange(port: int, data: bytes, *, wait: float = 5.0) -> bytes:
    """Send `data` on a plain TCP connection; what comes back until the
    server closes it (or `wait` seconds pass)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        answer = b""
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(wait):
                while chunk := await reader.read(65536):
                    answer += chunk
        return answer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def closed_by_server(port: int, data: bytes, within: float) -> bool:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(within):
            return await reader.read(1) == b""
    finally:
        writer.close()


# --- headers, bodies, frames --------------------------------------------------


async def test_an_endless_header_is_refused_431_at_the_bound(live: Served) -> None:
    head = b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-Junk: " + b"a" * (
        4 * MAX_HEADER_BYTES
    )

    answer = await raw_exchange(live.port, head)

    assert answer.startswith(b"HTTP/1.1 431")


async def test_a_trickled_head_and_a_silent_connection_are_closed(
    live: Served,
) -> None:
    assert await closed_by_server(live.port, b"GET /healthz HTTP/1.1\r\nX-A: b", 5)
    assert await closed_by_server(live.port, b"", 5)


async def test_an_anonymous_body_is_answered_before_it_is_sent(live: Served) -> None:
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 104857600\r\n\r\n{"
    )

    answer = await raw_exchange(live.port, head, wait=3)

    assert answer.startswith(b"HTTP/1.1 200")
    assert b'"UNAUTHENTICATED"' in answer


async def test_a_staff_body_past_the_bound_is_413(live: Served) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{live.url}/graphql",
            content=b'{"query": "'
            + b" " * 400_000
            + b'{ paymentMethods { method } }"}',
            headers={
                "Authorization": f"Bearer {live.token}",
                "Content-Type": "application/json",
            },
        )

    assert answer.status_code == 413


async def test_json_nested_100000_deep_is_400_not_500(live: Served) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{live.url}/graphql",
            content=b"[" * 100_000 + b"]" * 100_000,
            headers={
                "Authorization": f"Bearer {live.token}",
                "Content-Type": "application/json",
            },
        )

    assert answer.status_code == 400


async def test_a_websocket_frame_past_the_bound_closes_the_socket(
    live: Served,
) -> None:
    async with connect(live.ws_url, subprotocols=[PROTOCOL], compression=None) as ws:
        init = {
            "type": "connection_init",
            "payload": {"x": "y" * WEBSOCKET_MAX_FRAME_BYTES},
        }
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(init))
            await asyncio.wait_for(ws.recv(), 5)

    assert ws.close_code == 1009


async def test_a_deeply_nested_websocket_frame_closes_4400(live: Served) -> None:
    async with connect(live.ws_url, subprotocols=[PROTOCOL], compression=None) as ws:
        with contextlib.suppress(ConnectionClosed):
            await ws.send("[" * 20_000 + "]" * 20_000)
            await asyncio.wait_for(ws.recv(), 5)

    assert ws.close_code == 4400


# --- websocket connections ---------------------------------------------------


async def test_an_address_holds_a_bounded_number_of_sockets(live: Served) -> None:
    sockets = [
        await connect(live.ws_url, subprotocols=[PROTOCOL], compression=None)
        for _ in range(5)
    ]
    try:
        with pytest.raises(InvalidStatus) as refused:
            await connect(live.ws_url, subprotocols=[PROTOCOL], compression=None)
    finally:
        for ws in sockets:
            await ws.close()
    again = await connect(live.ws_url, subprotocols=[PROTOCOL], compression=None)
    await again.close()

    assert refused.value.response.status_code == 403


async def test_a_socket_without_an_operation_is_closed_when_idle(live: Served) -> None:
    async with connect(live.ws_url, subprotocols=[PROTOCOL], compression=None) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        await ws.recv()
        with contextlib.suppress(ConnectionClosed):
            async with asyncio.timeout(10):
                async for _ in ws:
                    pass

    assert ws.close_code == 4408


async def test_bad_staff_tokens_on_sockets_are_throttled_like_logins(
    live: Served,
) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(30):
            await client.post(
                f"{live.url}/graphql",
                json={"query": "{ paymentMethods { method } }"},
                headers={"Authorization": "Bearer guess"},
            )

    codes = []
    for header in ("Bearer guess", f"Bearer {live.token}"):
        async with connect(
            live.ws_url, subprotocols=[PROTOCOL], compression=None
        ) as ws:
            await ws.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"authorization": header}}
                )
            )
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
                codes.append(reply["type"])
            codes.append(ws.close_code)

    assert codes[0] == 4429
    assert codes[1] == "connection_ack"


async def test_subscriptions_leave_the_hub_however_their_sockets_end(
    live: Served,
) -> None:
    runtime_hub = live.app.state.container.hub
    invoice = await live.gql(CREATE_INVOICE, {"input": {"total": "100.00"}})
    invoice_id = invoice["data"]["createInvoice"]["invoice"]["id"]
    created = await live.gql(CREATE_QPAY, {"input": {"invoiceId": invoice_id}})
    intent = created["data"]["createQPayInvoice"]
    subscribe = {
        "type": "subscribe",
        "payload": {
            "query": PAYMENT_STATUS,
            "variables": {
                "id": intent["intent"]["id"],
                "secret": intent["clientSecret"],
            },
        },
    }

    for _ in range(3):
        sockets = []
        for _ in range(5):
            ws = await connect(live.ws_url, subprotocols=[PROTOCOL], compression=None)
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            await ws.recv()
            for n in range(10):
                await ws.send(json.dumps({**subscribe, "id": str(n)}))
            sockets.append(ws)
        while runtime_hub.subscription_count < 50:
            await asyncio.sleep(0.05)
        for ws in sockets:  # gone without a close frame, mid-stream
            ws.transport.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        for ws in sockets:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.wait_closed(), 5)
        async with asyncio.timeout(10):
            while (
                runtime_hub.subscription_count
                or live.app.state.runtime.view.open_sockets
            ):
                await asyncio.sleep(0.05)

    assert runtime_hub.watched() == []
    assert live.app.state.runtime.view.open_sockets == 0


# --- forwarded headers and the callback brake ------------------------------------


async def callback_flood(live: Served) -> list[int]:
    invoice = await live.gql(CREATE_INVOICE, {"input": {"total": "100.00"}})
    invoice_id = invoice["data"]["createInvoice"]["invoice"]["id"]
    created = await live.gql(CREATE_QPAY, {"input": {"invoiceId": invoice_id}})
    intent_id = created["data"]["createQPayInvoice"]["intent"]["id"]
    statuses = []
    async with httpx.AsyncClient() as client:
        for n in range(FAILED_CALLBACKS_PER_MINUTE * 2):
            answer = await client.get(
                f"{live.url}/qpay/callback/{intent_id}",
                params={"token": f"guess-{n}"},
                headers={"X-Forwarded-For": f"10.0.{n // 250}.{n % 250}"},
            )
            statuses.append(answer.status_code)
    return statuses


async def test_a_rotating_forwarded_address_does_not_dodge_the_brake_by_default(
    live: Served,
) -> None:
    statuses = await callback_flood(live)

    assert statuses.count(429) == FAILED_CALLBACKS_PER_MINUTE


async def test_forwarded_addresses_are_believed_only_from_trusted_proxies(
    clean_db: str, make_settings: SettingsFactory
) -> None:
    settings = make_settings(database_url=clean_db, forwarded_allow_ips=["127.0.0.1"])
    async with served(settings) as trusting:
        statuses = await callback_flood(trusting)
        async with httpx.AsyncClient() as client:
            await client.get(
                f"{trusting.url}/qpay/callback/not-an-id",
                headers={"X-Forwarded-For": "203.0.113.7"},
            )

    assert 429 not in statuses  # each address failed once
    assert await db.scalar(clean_db, "SELECT count(*) FROM qpay_callbacks") == 0


def test_nothing_is_trusted_from_proxies_unless_configured(
    make_settings: SettingsFactory,
) -> None:
    config = uvicorn_config(object(), make_settings(), host="127.0.0.1", port=1)  # type: ignore[arg-type]

    assert config.proxy_headers is False
    assert config.forwarded_allow_ips in ("", [])


# --- validation cost ----------------------------------------------------------


def fragment_bomb(levels: int) -> str:
    """`query{...F0} fragment F0 on Query{...F1 ...F1} ...`: each level doubles
    what a naive validator walks (12.9 s of blocked event loop at 22 levels)."""
    fragments = " ".join(
        f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(levels)
    )
    return f"query {{ ...F0 }} {fragments} fragment F{levels} on Query {{ __typename }}"


async def test_healthz_answers_within_200ms_while_fragment_bombs_arrive(
    live: Served,
) -> None:
    bombs = [fragment_bomb(22), fragment_bomb(190)]
    stop = asyncio.Event()

    async def bomb_over_a_socket() -> None:
        while not stop.is_set():
            async with connect(
                live.ws_url, subprotocols=[PROTOCOL], compression=None
            ) as ws:
                await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
                await ws.recv()
                for n, bomb in enumerate(bombs):
                    subscribe = {
                        "id": str(n),
                        "type": "subscribe",
                        "payload": {"query": bomb},
                    }
                    await ws.send(json.dumps(subscribe))
                    await ws.recv()

    async def bomb_as_staff(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            for bomb in bombs:
                await client.post(
                    f"{live.url}/graphql",
                    json={"query": bomb},
                    headers={"Authorization": f"Bearer {live.token}"},
                )

    async with httpx.AsyncClient() as bomber, httpx.AsyncClient() as prober:
        attacks = [
            asyncio.create_task(bomb_over_a_socket()),
            asyncio.create_task(bomb_as_staff(bomber)),
        ]
        latencies = []
        loop = asyncio.get_running_loop()
        for _ in range(40):
            started = loop.time()
            answer = await prober.get(f"{live.url}/healthz")
            latencies.append(loop.time() - started)
            assert answer.status_code == 200
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*attacks, return_exceptions=True)

    # A validation that is not linear stalls every probe while the bombs
    # arrive; one slow probe is the shared host (seen: one of 40 at 0.9 s
    # with two test lanes on two cores), so the 90th percentile is judged.
    assert sorted(latencies)[35] < 0.2, sorted(latencies)[-5:]
