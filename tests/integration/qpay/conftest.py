"""The real QPay client and gateway against the simulator: in process through
ASGITransport, or on real loopback ports with uvicorn. A small Starlette app
stands in for our callback endpoint and records what QPay sends it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from domain.qpay_messages import CreatedInvoice, InvoiceRequest, QPayEnvironment
from qpay.client import QPayClient, make_http_client
from qpay.gateway import QPayGateway
from qpay.simulator import QPaySimulator

SIM_BASE_URL = "http://qpay-sim/v2"
CALLBACK_URL = "http://clinic.test/qpay/callback/42?token=abc"
START = 1_769_670_125.0


@dataclass
class CallbackReceiver:
    """Our callback endpoint: records each request, answers SUCCESS."""

    received: list[Request] = field(default_factory=list)

    @property
    def app(self) -> Starlette:
        async def callback(request: Request) -> Response:
            self.received.append(request)
            return PlainTextResponse("SUCCESS")

        routes = [Route("/qpay/callback/{intent}", callback, methods=["GET", "POST"])]
        return Starlette(routes=routes)


@dataclass
class Rig:
    sim: QPaySimulator
    http: httpx.AsyncClient
    client: QPayClient
    gateway: QPayGateway
    receiver: CallbackReceiver
    observed: list[tuple[str, str]]

    async def new_invoice(
        self, amount: str = "15000", number: str = "INV-1", callback: str = CALLBACK_URL
    ) -> CreatedInvoice:
        request = InvoiceRequest(number, Decimal(amount), "Шүдний эмчилгээ", callback)
        return await self.gateway.create_invoice(request)

    async def control(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST a /_sim control endpoint over HTTP, as a benchmark would."""
        base = str(self.http.base_url).removesuffix("/").removesuffix("/v2")
        return await self.http.post(f"{base}/_sim/{path}", json=body)

    def calls(self, method: str, path: str) -> int:
        return sum(
            1 for r in self.sim.requests if (r["method"], r["path"]) == (method, path)
        )


def make_rig(
    sim: QPaySimulator,
    http: httpx.AsyncClient,
    receiver: CallbackReceiver,
    **options: Any,
) -> Rig:
    observed: list[tuple[str, str]] = []
    client = QPayClient(
        http,
        client_id="TEST_MERCHANT",
        client_secret="123456",
        backoff_base=0.0,
        observer=lambda endpoint, outcome, _: observed.append((endpoint, outcome)),
        **options,
    )
    gateway = QPayGateway(
        client, environment=QPayEnvironment.MOCK, invoice_code="TEST_INVOICE"
    )
    return Rig(sim, http, client, gateway, receiver, observed)


@contextlib.asynccontextmanager
async def in_process(
    *, sim_options: dict[str, Any] | None = None, **client_options: Any
) -> AsyncIterator[Rig]:
    receiver = CallbackReceiver()
    transport = httpx.ASGITransport(app=receiver.app)
    async with httpx.AsyncClient(transport=transport) as callback_http:
        sim = QPaySimulator(callback_http=callback_http, **(sim_options or {}))
        sim_transport = httpx.ASGITransport(app=sim.app)
        async with make_http_client(SIM_BASE_URL, transport=sim_transport) as http:
            yield make_rig(sim, http, receiver, **client_options)
        await sim.aclose()


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with in_process() as ready:
        yield ready


@contextlib.asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[str]:
    """uvicorn on 127.0.0.1 (a free port) in this event loop; yields its URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        log_config=None,
        lifespan="off",
        ws="none",
        access_log=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # surfaces the start-up error
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
