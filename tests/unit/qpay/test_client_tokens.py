"""Tokens: epoch expiry, renewal before expiry (refresh first, then login),
single-flight login, and the one re-login and replay after a 401."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import pytest

from qpay.errors import QPayAuthError, QPayUnavailable
from tests.unit.qpay.conftest import DAY, Rig, token_body

pytestmark = pytest.mark.anyio

INVOICE_ID = "inv-1"
INVOICE = {"invoice_id": INVOICE_ID, "invoice_status": "OPEN"}
NO_CREDENDIALS = {"error": "NO_CREDENDIALS", "message": "NO_CREDENDIALS"}


def serve_invoice(rig: Rig) -> list[str]:
    """GET /invoice/inv-1 answers 200; returns the bearer of each call."""
    bearers: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bearers.append(rig.bearer(request))
        return httpx.Response(200, json=INVOICE)

    rig.router.get(f"/invoice/{INVOICE_ID}").mock(side_effect=answer)
    return bearers


async def test_reuses_the_token_when_it_is_far_from_expiry(rig: Rig) -> None:
    bearers = serve_invoice(rig)

    await rig.client.get_invoice(INVOICE_ID)
    rig.clock.advance(DAY - 301)
    await rig.client.get_invoice(INVOICE_ID)

    assert len(rig.logins) == 1
    assert bearers == ["Bearer access-1", "Bearer access-1"]


async def test_refreshes_with_the_refresh_token_when_five_minutes_remain(
    rig: Rig,
) -> None:
    bearers = serve_invoice(rig)
    refresh = rig.router.post("/auth/refresh").mock(
        return_value=httpx.Response(
            200, json=token_body("access-r", "refresh-r", rig.clock() + 2 * DAY)
        )
    )
    await rig.client.get_invoice(INVOICE_ID)

    rig.clock.advance(DAY - 299)
    await rig.client.get_invoice(INVOICE_ID)

    assert refresh.call_count == 1
    request = refresh.calls.last.request
    assert request.headers["Authorization"] == "Bearer refresh-1"
    assert request.content == b""
    assert len(rig.logins) == 1
    assert bearers == ["Bearer access-1", "Bearer access-r"]


async def test_logs_in_again_when_the_refresh_is_refused(rig: Rig) -> None:
    bearers = serve_invoice(rig)
    refresh = rig.router.post("/auth/refresh").respond(401, json=NO_CREDENDIALS)
    await rig.client.get_invoice(INVOICE_ID)

    rig.clock.advance(DAY - 60)
    await rig.client.get_invoice(INVOICE_ID)

    assert refresh.call_count == 1
    assert len(rig.logins) == 2
    assert bearers[-1] == "Bearer access-2"


async def test_logs_in_without_refreshing_when_the_token_has_expired(
    rig: Rig,
) -> None:
    bearers = serve_invoice(rig)
    refresh = rig.router.post("/auth/refresh").respond(500)
    await rig.client.get_invoice(INVOICE_ID)

    rig.clock.advance(DAY + 1)  # the refresh token expired at the same instant
    await rig.client.get_invoice(INVOICE_ID)

    assert refresh.call_count == 0
    assert len(rig.logins) == 2
    assert bearers[-1] == "Bearer access-2"


async def test_keeps_the_current_token_when_renewal_fails_before_expiry(
    rig: Rig,
) -> None:
    bearers = serve_invoice(rig)
    rig.router.post("/auth/refresh").mock(side_effect=httpx.ConnectError("down"))
    await rig.client.get_invoice(INVOICE_ID)
    rig.token_route.side_effect = httpx.ConnectError("down")

    rig.clock.advance(DAY - 120)
    await rig.client.get_invoice(INVOICE_ID)

    assert bearers == ["Bearer access-1", "Bearer access-1"]


async def test_raises_unavailable_not_reached_when_no_token_can_be_had(
    rig: Rig,
) -> None:
    rig.token_route.side_effect = httpx.ConnectError("down")
    route = rig.router.post("/invoice").respond(200, json={})

    with pytest.raises(QPayUnavailable) as caught:
        await rig.client.create_invoice(
            invoice_code="TEST_INVOICE",
            sender_invoice_no="INV-1",
            invoice_receiver_code="terminal",
            invoice_description="x",
            amount=Decimal(100),
            callback_url="https://clinic.test/cb",
        )

    assert caught.value.may_have_reached is False
    assert route.call_count == 0


async def test_reads_a_duration_as_relative_when_expires_in_is_not_an_epoch(
    rig: Rig,
) -> None:
    bearers = serve_invoice(rig)
    rig.token_route.side_effect = None
    rig.token_route.return_value = httpx.Response(
        200, json=token_body("access-d", "refresh-d", 600)
    )

    await rig.client.get_invoice(INVOICE_ID)
    await rig.client.get_invoice(INVOICE_ID)

    assert rig.token_route.call_count == 1
    assert bearers == ["Bearer access-d", "Bearer access-d"]


async def test_makes_exactly_one_login_when_twenty_calls_share_an_expired_token(
    rig: Rig,
) -> None:
    serve_invoice(rig)
    await rig.client.get_invoice(INVOICE_ID)
    rig.clock.advance(DAY + 10)

    async def slow_login(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)  # let the other callers pile up meanwhile
        return rig.login(request)

    rig.token_route.side_effect = slow_login

    await asyncio.gather(*(rig.client.get_invoice(INVOICE_ID) for _ in range(20)))

    assert len(rig.logins) == 2  # the first one, and one for all twenty


@pytest.mark.parametrize("code", ["NO_CREDENDIALS", "NO_CREDENTIALS"])
async def test_logs_in_again_and_replays_once_when_a_call_gets_401(
    rig: Rig, code: str
) -> None:
    route = rig.router.get(f"/invoice/{INVOICE_ID}").mock(
        side_effect=[
            httpx.Response(401, json={"error": code, "message": code}),
            httpx.Response(200, json=INVOICE),
        ]
    )

    invoice = await rig.client.get_invoice(INVOICE_ID)

    assert invoice.invoice_id == INVOICE_ID
    assert [rig.bearer(c.request) for c in route.calls] == [
        "Bearer access-1",
        "Bearer access-2",
    ]
    assert len(rig.logins) == 2


async def test_replays_a_post_once_when_invoice_create_gets_401(rig: Rig) -> None:
    route = rig.router.post("/invoice").mock(
        side_effect=[
            httpx.Response(401, json=NO_CREDENDIALS),
            httpx.Response(200, json={"invoice_id": "new", "qr_text": "0002"}),
        ]
    )

    created = await rig.client.create_invoice(
        invoice_code="TEST_INVOICE",
        sender_invoice_no="INV-1",
        invoice_receiver_code="terminal",
        invoice_description="x",
        amount=Decimal(100),
        callback_url="https://clinic.test/cb",
    )

    assert created.invoice_id == "new"
    assert route.call_count == 2
    assert route.calls[0].request.content == route.calls[1].request.content


async def test_raises_auth_error_without_looping_when_the_replay_gets_401(
    rig: Rig,
) -> None:
    route = rig.router.get(f"/invoice/{INVOICE_ID}").respond(401, json=NO_CREDENDIALS)

    with pytest.raises(QPayAuthError) as caught:
        await rig.client.get_invoice(INVOICE_ID)

    assert caught.value.code == "NO_CREDENDIALS"
    assert route.call_count == 2
    assert len(rig.logins) == 2


async def test_logs_in_once_when_concurrent_calls_get_401_on_the_same_token(
    rig: Rig,
) -> None:
    revoked: set[str] = set()

    def answer(request: httpx.Request) -> httpx.Response:
        if rig.bearer(request) in revoked:
            return httpx.Response(401, json=NO_CREDENDIALS)
        return httpx.Response(200, json=INVOICE)

    rig.router.get(f"/invoice/{INVOICE_ID}").mock(side_effect=answer)
    await rig.client.get_invoice(INVOICE_ID)
    revoked.add("Bearer access-1")  # QPay forgot the token before its expiry

    async def slow_login(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)  # the other 401s arrive meanwhile
        return rig.login(request)

    rig.token_route.side_effect = slow_login

    await asyncio.gather(*(rig.client.get_invoice(INVOICE_ID) for _ in range(5)))

    assert len(rig.logins) == 2


async def test_raises_auth_error_when_the_login_is_refused(rig: Rig) -> None:
    rig.token_route.side_effect = None
    rig.token_route.return_value = httpx.Response(
        401, json={"error": "AUTHENTICATION_FAILED", "message": "AUTHENTICATION_FAILED"}
    )
    rig.router.get(f"/invoice/{INVOICE_ID}").respond(200, json=INVOICE)

    with pytest.raises(QPayAuthError) as caught:
        await rig.client.get_invoice(INVOICE_ID)

    assert caught.value.code == "AUTHENTICATION_FAILED"
    assert ("auth_token", "auth_401") in rig.observed
