"""SIGTERM's drain (stop claiming, finish settlements, close websockets with
1001) and the Prometheus metrics."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.conftest import Live
from tests.e2e.ws import PROTOCOL, graphql_socket
from tests.gql import CREATE_INVOICE, CREATE_QPAY

pytestmark = [pytest.mark.e2e, pytest.mark.db, pytest.mark.anyio]


async def open_intent(live: Live) -> dict[str, str]:
    invoice = await live.gql(CREATE_INVOICE, {"input": {"total": "100.00"}})
    created = await live.gql(
        CREATE_QPAY,
        {"input": {"invoiceId": invoice["data"]["createInvoice"]["invoice"]["id"]}},
    )
    payload = created["data"]["createQPayInvoice"]
    return {"id": payload["intent"]["id"], "secret": payload["clientSecret"]}


async def test_drain_closes_websockets_with_1001_and_readyz_turns_503_when_stopping(
    live: Live,
) -> None:
    intent = await open_intent(live)
    async with connect(
        live.ws_url, subprotocols=[PROTOCOL], compression=None
    ) as socket:
        await socket.send('{"type": "connection_init", "payload": {}}')
        await socket.recv()

        await live.app.state.runtime.drain()
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 10)
        ready = await live.client.get(f"{live.url}/readyz")

    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert ready.status_code == 503
    supervised = live.app.state.runtime.supervisor.tasks
    assert supervised and all(task.done() for task in supervised)
    assert intent["id"]


async def test_metrics_count_qpay_calls_callbacks_and_subscriptions_when_paid(
    live: Live,
) -> None:
    intent = await open_intent(live)
    async with graphql_socket(live.ws_url) as socket:
        sub = await socket.payment_status(intent["id"], intent["secret"])
        await sub.wait_for(lambda e: True)
        during = (await live.client.get(f"{live.url}/metrics")).text
        qpay_id = (
            await live.gql(
                "query($i: ID!) { qpayIntent(id: $i) { qpayInvoiceId } }",
                {"i": intent["id"]},
            )
        )["data"]["qpayIntent"]["qpayInvoiceId"]
        live.simulator.pay(qpay_id)
        await sub.wait_for(lambda e: e["intent"]["status"] == "PAID")

    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"{live.url}/metrics")).text

    assert "graphql_active_subscriptions 1.0" in during
    assert 'qpay_calls_total{endpoint="invoice_create",outcome="ok"} 1.0' in metrics
    assert 'qpay_calls_total{endpoint="payment_check",outcome="ok"}' in metrics
    assert "qpay_call_seconds_bucket" in metrics
    assert 'qpay_callbacks_total{outcome="accepted"} 1.0' in metrics
    assert 'qpay_settlements_total{outcome="recorded",source="callback"} 1.0' in metrics
