"""ObservedHTTP: request ids in and out, route templates as labels, random
paths bounded, websockets passed through."""

from __future__ import annotations

import json
import random
import string
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import Message
from starlette.websockets import WebSocket

from app import request_context
from app.http_observer import ObservedHTTP
from app.metrics import Metrics

pytestmark = pytest.mark.anyio


async def fields(request: Request) -> Response:
    return JSONResponse(dict(request_context.current()))


async def boom(request: Request) -> Response:
    raise RuntimeError("bug")


async def socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(dict(request_context.current()))
    await websocket.close()


def observed_app(metrics: Metrics) -> Starlette:
    inner = Starlette(routes=[Route("/v2/invoice/{id}", fields)])
    return Starlette(
        routes=[
            Route("/fields", fields),
            Route("/intents/{intent_id}", fields, methods=["GET"]),
            Route("/boom", boom),
            Mount("/sim", app=inner),
            WebSocketRoute("/ws", socket),
        ],
        middleware=[Middleware(ObservedHTTP, metrics=metrics)],
    )


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def client(metrics: Metrics) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(
        app=observed_app(metrics), raise_app_exceptions=False
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def http_series(metrics: Metrics) -> list[dict[str, str]]:
    """The label sets of http_request_duration_seconds (one per series)."""
    text = metrics.render().decode()
    for family in text_string_to_metric_families(text):
        if family.name == "http_request_duration_seconds":
            return [
                dict(sample.labels)
                for sample in family.samples
                if sample.name.endswith("_count")
            ]
    return []


async def test_echoes_the_request_id_when_the_client_sends_a_sane_one(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/fields", headers={"X-Request-ID": "abc-123"})

    assert response.headers["x-request-id"] == "abc-123"
    assert response.json() == {"request_id": "abc-123"}


async def test_generates_a_request_id_when_none_or_a_hostile_one_is_sent(
    client: httpx.AsyncClient,
) -> None:
    plain = await client.get("/fields")
    hostile = await client.get("/fields", headers={"X-Request-ID": "a b<script>"})

    for response in (plain, hostile):
        generated = response.headers["x-request-id"]
        assert len(generated) == 32 and generated.isalnum()
        assert response.json() == {"request_id": generated}
    assert plain.headers["x-request-id"] != hostile.headers["x-request-id"]


async def test_the_context_ends_with_the_request_when_served_in_the_same_task(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/fields", headers={"X-Request-ID": "gone-after"})

    assert dict(request_context.current()) == {}


async def test_labels_routes_by_template_when_paths_carry_ids(
    client: httpx.AsyncClient, metrics: Metrics
) -> None:
    await client.get("/intents/1b4e28ba-2fa1-11d2-883f-0016d3cca427")
    await client.get("/intents/another-id")
    await client.get("/sim/v2/invoice/INV-1")
    await client.post("/intents/x")
    await client.get("/boom")

    series = http_series(metrics)

    assert {"method": "GET", "route": "/intents/{intent_id}", "status": "200"} in series
    assert {"method": "GET", "route": "/sim/v2/invoice/{id}", "status": "200"} in series
    assert {
        "method": "POST",
        "route": "/intents/{intent_id}",
        "status": "405",
    } in series
    assert {"method": "GET", "route": "/boom", "status": "500"} in series
    assert len(series) == 4


async def test_a_thousand_random_paths_and_methods_add_one_series_when_unmatched(
    client: httpx.AsyncClient, metrics: Metrics
) -> None:
    rng = random.Random(16)
    letters = string.ascii_letters + string.digits
    for n in range(1000):
        path = "/" + "".join(rng.choices(letters, k=12)) + f"/{n}"
        method = "GET" if n % 2 else f"X{n}"
        await client.request(method, path)

    series = http_series(metrics)

    assert sorted(series, key=lambda labels: labels["method"]) == [
        {"method": "GET", "route": "unmatched", "status": "404"},
        {"method": "other", "route": "unmatched", "status": "404"},
    ]


async def test_websockets_pass_through_with_a_request_id_when_connected(
    metrics: Metrics,
) -> None:
    incoming: list[Message] = [
        {"type": "websocket.connect"},
        {"type": "websocket.disconnect", "code": 1000},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await observed_app(metrics)(
        {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "path": "/ws",
            "raw_path": b"/ws",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"x-request-id", b"ws-1")],
            "client": ("127.0.0.1", 50000),
            "server": ("test", 80),
            "subprotocols": [],
        },
        receive,
        send,
    )

    assert [message["type"] for message in sent] == [
        "websocket.accept",
        "websocket.send",
        "websocket.close",
    ]
    assert json.loads(sent[1]["text"]) == {"request_id": "ws-1"}
    assert http_series(metrics) == []
