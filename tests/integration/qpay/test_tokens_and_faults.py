"""Token expiry and refresh against the simulator's clock, and the client's
answers to injected faults: 5xx, 401 on a live token, garbage, bad paging."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from domain.errors import GatewayUnavailable
from qpay.errors import QPayUnavailable
from tests.fakes.clock import FixedClock
from tests.integration.qpay.conftest import START, Rig, in_process

pytestmark = pytest.mark.anyio


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
async def timed(clock: FixedClock) -> AsyncIterator[Rig]:
    """Simulator and client on one fake clock."""
    async with in_process(sim_options={"now": clock}, now=clock) as ready:
        yield ready


def auth_calls(rig: Rig) -> list[tuple[str, str | None]]:
    return [(r["path"], r["auth"]) for r in rig.sim.requests if "/auth/" in r["path"]]


async def test_refreshes_then_logs_in_when_the_day_runs_out(
    timed: Rig, clock: FixedClock
) -> None:
    created = await timed.new_invoice()

    clock.advance(86_400 - 120)  # inside the last five minutes: refresh
    await timed.client.get_invoice(created.qpay_invoice_id)
    clock.advance(86_400 + 1)  # the refreshed token has expired too: login
    await timed.client.get_invoice(created.qpay_invoice_id)

    assert auth_calls(timed) == [
        ("/v2/auth/token", "basic"),
        ("/v2/auth/refresh", "bearer"),
        ("/v2/auth/token", "basic"),
    ]
    assert timed.calls("GET", f"/v2/invoice/{created.qpay_invoice_id}") == 2


async def test_logs_in_again_and_replays_when_qpay_expires_tokens_early(
    timed: Rig,
) -> None:
    created = await timed.new_invoice()
    path = f"/v2/invoice/{created.qpay_invoice_id}"

    timed.sim.expire_tokens()
    invoice = await timed.client.get_invoice(created.qpay_invoice_id)

    assert invoice.invoice_status == "OPEN"
    assert [(r["method"], r["path"]) for r in timed.sim.requests[-3:]] == [
        ("GET", path),
        ("POST", "/v2/auth/token"),
        ("GET", path),
    ]
    assert ("invoice_get", "auth_401") in timed.observed


async def test_logs_in_again_when_the_control_api_expires_tokens(rig: Rig) -> None:
    await rig.new_invoice()

    expired = await rig.control("expire-tokens", {})
    await rig.new_invoice(number="INV-2")

    assert expired.status_code == 200
    assert rig.calls("POST", "/v2/auth/token") == 2
    assert rig.calls("POST", "/v2/invoice") == 3  # 2 invoices, one replayed


async def test_retries_the_check_when_qpay_fails_the_next_calls_with_500(
    rig: Rig,
) -> None:
    created = await rig.new_invoice("1200")
    rig.sim.pay(created.qpay_invoice_id)

    rig.sim.fail_next("/payment/check", count=2, status=500)
    check = await rig.gateway.check_payment(created.qpay_invoice_id)

    assert [row.status for row in check.rows] == ["PAID"]
    assert rig.calls("POST", "/v2/payment/check") == 3


async def test_replays_once_when_a_401_is_injected_on_a_live_token(
    rig: Rig,
) -> None:
    await rig.new_invoice()

    injected = await rig.control(
        "fail", {"path": "/v2/invoice", "status": 401, "method": "POST"}
    )
    created = await rig.new_invoice(number="INV-2")

    assert injected.status_code == 200
    assert created.qpay_invoice_id in rig.sim.state.invoices
    assert rig.calls("POST", "/v2/auth/token") == 2
    assert rig.calls("POST", "/v2/invoice") == 3


async def test_raises_unavailable_reached_when_qpay_answers_html_with_200(
    rig: Rig,
) -> None:
    rig.sim.fail_next("/invoice", status=200, body="<html>maintenance</html>")

    with pytest.raises(QPayUnavailable) as caught:
        await rig.client.create_invoice(
            invoice_code="TEST_INVOICE",
            sender_invoice_no="INV-9",
            invoice_receiver_code="terminal",
            invoice_description="x",
            amount=Decimal(10),
            callback_url="http://clinic.test/cb",
        )

    assert caught.value.may_have_reached is True
    assert "maintenance" in caught.value.message
    assert ("invoice_create", "malformed") in rig.observed


async def test_never_retries_invoice_create_when_qpay_answers_502(rig: Rig) -> None:
    await rig.control(
        "fail", {"path": "/invoice", "status": 502, "body": "upstream down"}
    )

    with pytest.raises(GatewayUnavailable) as caught:
        await rig.new_invoice()

    assert caught.value.may_have_reached is True
    assert rig.calls("POST", "/v2/invoice") == 1
    assert rig.sim.state.invoices == {}


async def test_fails_only_matching_methods_when_a_wildcard_fault_is_set(
    rig: Rig,
) -> None:
    created = await rig.new_invoice()
    rig.sim.fail_next("/invoice/*", method="DELETE", count=1, status=503)

    invoice = await rig.client.get_invoice(created.qpay_invoice_id)
    with pytest.raises(QPayUnavailable) as caught:
        await rig.client.cancel_invoice(created.qpay_invoice_id)

    assert invoice.invoice_status == "OPEN"
    assert caught.value.code == "SYSTEM_BUSY"
    assert rig.sim.state.faults == []
