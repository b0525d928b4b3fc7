"""The simulator and our callback endpoint on real loopback ports (uvicorn):
the whole flow over TCP, real read timeouts, and a refused connection."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from domain.errors import GatewayUnavailable
from domain.qpay_messages import InvoiceRequest
from qpay.client import make_http_client
from qpay.errors import QPayUnavailable
from qpay.simulator import QPaySimulator
from tests.integration.qpay.conftest import CallbackReceiver, Rig, make_rig, serving

pytestmark = pytest.mark.anyio


@pytest.fixture
async def live() -> AsyncIterator[tuple[Rig, str]]:
    """(rig over TCP with a 0.3 s read timeout, the callback server's URL)."""
    receiver = CallbackReceiver()
    sim = QPaySimulator()  # delivers callbacks with its own HTTP client
    async with serving(receiver.app) as callback_url, serving(sim.app) as sim_url:
        http = make_http_client(f"{sim_url}/v2", connect_timeout=2, read_timeout=0.3)
        async with http:
            yield make_rig(sim, http, receiver), callback_url
        await sim.aclose()


async def test_settles_over_tcp_and_calls_back_when_paid_through_the_control_api(
    live: tuple[Rig, str],
) -> None:
    rig, callback_url = live
    request = InvoiceRequest(
        "INV-TCP",
        Decimal("45000"),
        "Шүдний эмчилгээ",
        f"{callback_url}/qpay/callback/7",
    )
    created = await rig.gateway.create_invoice(request)

    paid = await rig.control("pay", {"invoice_id": created.qpay_invoice_id})
    await rig.sim.wait_callbacks()
    check = await rig.gateway.check_payment(created.qpay_invoice_id)

    payment_id = paid.json()["payment_id"]
    [callback] = rig.receiver.received
    assert callback.method == "GET"
    assert callback.query_params["qpay_payment_id"] == payment_id
    assert rig.sim.callbacks_sent[0]["status"] == 200
    assert [(r.payment_id, r.amount, r.status) for r in check.rows] == [
        (payment_id, Decimal(45000), "PAID")
    ]


async def test_raises_unavailable_reached_without_retry_when_create_times_out(
    live: tuple[Rig, str],
) -> None:
    rig, callback_url = live
    rig.sim.delay_next("/invoice", 1.0, method="POST")
    request = InvoiceRequest("INV-SLOW", Decimal(100), "x", f"{callback_url}/cb/1")

    with pytest.raises(GatewayUnavailable) as caught:
        await rig.gateway.create_invoice(request)
    # QPay went on and made it anyway; the handler is still asleep meanwhile.
    while not rig.sim.state.invoices:  # state of another task
        await asyncio.sleep(0.05)

    assert caught.value.may_have_reached is True
    assert rig.calls("POST", "/v2/invoice") == 1
    assert ("invoice_create", "timeout") in rig.observed


async def test_retries_a_read_when_it_times_out_once(live: tuple[Rig, str]) -> None:
    rig, callback_url = live
    request = InvoiceRequest("INV-R", Decimal(100), "x", f"{callback_url}/cb/1")
    created = await rig.gateway.create_invoice(request)
    rig.sim.delay_next("/invoice/*", 1.0, method="GET")

    invoice = await rig.client.get_invoice(created.qpay_invoice_id)

    assert invoice.invoice_status == "OPEN"
    assert [o for o in rig.observed if o[0] == "invoice_get"] == [
        ("invoice_get", "timeout"),
        ("invoice_get", "ok"),
    ]


async def test_raises_unavailable_not_reached_when_nothing_listens() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port is closed again: connecting is refused.
    async with make_http_client(f"http://127.0.0.1:{port}/v2") as http:
        rig = make_rig(QPaySimulator(), http, CallbackReceiver())

        with pytest.raises(QPayUnavailable) as caught:
            await rig.client.cancel_invoice("inv-1")

    assert caught.value.may_have_reached is False
    assert rig.observed == [("auth_token", "connect_error")]


async def test_answers_qpay_shaped_errors_over_tcp_when_credentials_are_wrong(
    live: tuple[Rig, str],
) -> None:
    rig, _ = live
    url = str(rig.http.base_url).rstrip("/")

    async with httpx.AsyncClient() as raw:
        refused = await raw.post(f"{url}/auth/token", auth=("TEST_MERCHANT", "nope"))
        unknown = await raw.get(
            f"{url}/invoice/x", headers={"Authorization": "Bearer x"}
        )

    assert (refused.status_code, refused.json()) == (
        401,
        {"error": "AUTHENTICATION_FAILED", "message": "AUTHENTICATION_FAILED"},
    )
    assert unknown.status_code == 401
    assert unknown.content == b'{"error":"NO_CREDENDIALS","message":"NO_CREDENDIALS"}'
