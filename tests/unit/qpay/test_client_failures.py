"""Failures: what is retried (reads) and what never is (writes), how QPay's
error bodies map to the error hierarchy, what the observer sees, and that no
secret leaks into reprs, messages or logs."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from qpay.client import QPayClient
from qpay.errors import (
    QPayAuthError,
    QPayError,
    QPayNotFound,
    QPayRejected,
    QPayUnavailable,
)
from qpay.exchange import backoff_delay
from tests.fakes.clock import FixedClock
from tests.unit.qpay.conftest import BASE_URL, CLIENT_SECRET, START, Rig, make_rig

pytestmark = pytest.mark.anyio

INVOICE_ID = "inv-1"
INVOICE = {"invoice_id": INVOICE_ID, "invoice_status": "OPEN"}
CREATED = {"invoice_id": "new", "qr_text": "0002"}


async def create(client: QPayClient) -> Any:
    return await client.create_invoice(
        invoice_code="TEST_INVOICE",
        sender_invoice_no="INV-1",
        invoice_receiver_code="terminal",
        invoice_description="x",
        amount=Decimal(100),
        callback_url="https://clinic.test/cb",
    )


@pytest.mark.parametrize(
    ("effect", "reached"),
    [
        (httpx.ReadTimeout("read timed out"), True),
        (httpx.WriteTimeout("write timed out"), True),
        (httpx.RemoteProtocolError("peer closed"), True),
        (httpx.ConnectTimeout("connect timed out"), False),
        (httpx.ConnectError("refused"), False),
    ],
)
async def test_raises_unavailable_without_retry_when_invoice_create_fails_in_transit(
    rig: Rig, effect: Exception, reached: bool
) -> None:
    route = rig.router.post("/invoice").mock(side_effect=effect)

    with pytest.raises(QPayUnavailable) as caught:
        await create(rig.client)

    assert route.call_count == 1
    assert caught.value.may_have_reached is reached


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_raises_unavailable_reached_without_retry_when_invoice_create_gets_5xx(
    rig: Rig, status: int
) -> None:
    route = rig.router.post("/invoice").respond(
        status, json={"error": "SYSTEM_BUSY", "message": "SYSTEM_BUSY"}
    )

    with pytest.raises(QPayUnavailable) as caught:
        await create(rig.client)

    assert route.call_count == 1
    assert caught.value.may_have_reached is True
    assert caught.value.code == "SYSTEM_BUSY"
    assert caught.value.status == status


@pytest.mark.parametrize(
    "call",
    [
        "cancel_invoice",
        "cancel_payment",
        "refund_payment",
        "create_ebarimt",
        "cancel_ebarimt",
        "create_ebarimt_v3",
        "cancel_ebarimt_v3",
    ],
)
async def test_never_retries_a_write_when_qpay_answers_500(rig: Rig, call: str) -> None:
    route = rig.router.route(method__in=["POST", "DELETE"]).respond(500, text="boom")
    arguments: dict[str, tuple[str, ...]] = {
        "cancel_payment": ("p1", "note"),
        "refund_payment": ("p1", "note"),
        "create_ebarimt": ("p1", "CITIZEN"),
        "create_ebarimt_v3": ("p1", "CITIZEN"),
    }

    with pytest.raises(QPayUnavailable):
        await getattr(rig.client, call)(*arguments.get(call, ("id-1",)))

    assert route.call_count == 1


async def test_retries_a_read_when_qpay_answers_5xx_then_succeeds(rig: Rig) -> None:
    route = rig.router.get(f"/invoice/{INVOICE_ID}").mock(
        side_effect=[
            httpx.Response(503, text="<html>Service Unavailable</html>"),
            httpx.Response(500, json={"error": "SYSTEM_BUSY", "message": "busy"}),
            httpx.Response(200, json=INVOICE),
        ]
    )

    invoice = await rig.client.get_invoice(INVOICE_ID)

    assert invoice.invoice_status == "OPEN"
    assert route.call_count == 3
    assert [o for o in rig.observed if o[0] == "invoice_get"] == [
        ("invoice_get", "http_5xx"),
        ("invoice_get", "http_5xx"),
        ("invoice_get", "ok"),
    ]


async def test_retries_payment_check_when_the_read_times_out(rig: Rig) -> None:
    route = rig.router.post("/payment/check").mock(
        side_effect=[
            httpx.ReadTimeout("slow"),
            httpx.ConnectError("refused"),
            httpx.Response(200, json={"count": 0, "paid_amount": 0, "rows": []}),
        ]
    )

    result = await rig.client.check_payment(INVOICE_ID)

    assert result.rows == ()
    assert route.call_count == 3


async def test_gives_up_after_the_retry_budget_when_a_read_keeps_failing(
    rig: Rig,
) -> None:
    route = rig.router.get(f"/invoice/{INVOICE_ID}").respond(502, text="bad gateway")

    with pytest.raises(QPayUnavailable) as caught:
        await rig.client.get_invoice(INVOICE_ID)

    assert route.call_count == 4  # one try and read_retries=3 retries
    assert "bad gateway" in caught.value.message


async def test_never_retries_a_read_when_qpay_answers_4xx(rig: Rig) -> None:
    route = rig.router.get(f"/invoice/{INVOICE_ID}").respond(
        400, json={"error": "OBJECT_DATA_ERROR", "message": "bad"}
    )

    with pytest.raises(QPayRejected):
        await rig.client.get_invoice(INVOICE_ID)

    assert route.call_count == 1


def test_keeps_the_backoff_within_the_capped_exponential_when_jittered() -> None:
    highs = [backoff_delay(n, 0.2, 2.0, rng=lambda: 1.0) for n in range(1, 7)]
    lows = [backoff_delay(n, 0.2, 2.0, rng=lambda: 0.0) for n in range(1, 7)]

    assert highs == pytest.approx([0.2, 0.4, 0.8, 1.6, 2.0, 2.0])
    assert lows == [0.0] * 6


@pytest.mark.parametrize(
    "code", ["INVOICE_NOTFOUND", "PAYMENT_NOTFOUND", "BARIMT_NOT_FOUND"]
)
async def test_raises_not_found_when_qpay_answers_a_not_found_code(
    rig: Rig, code: str
) -> None:
    rig.router.get(f"/invoice/{INVOICE_ID}").respond(
        422, json={"error": code, "message": "Нэхэмжлэл олдсонгүй"}
    )

    with pytest.raises(QPayNotFound) as caught:
        await rig.client.get_invoice(INVOICE_ID)

    assert caught.value.code == code
    assert caught.value.message == "Нэхэмжлэл олдсонгүй"
    assert caught.value.status == 422


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "INVOICE_CODE_INVALID"),
        (400, "PAYMENT_SETTLED"),
        (409, "PAYMENT_SETTLED"),
        (400, "EBARIMT_CANCEL_NOTSUPPERDED"),
    ],
)
async def test_raises_rejected_with_qpays_code_when_qpay_refuses(
    rig: Rig, status: int, code: str
) -> None:
    rig.router.delete("/ebarimt/eb-1").respond(
        status, json={"error": code, "message": code}
    )

    with pytest.raises(QPayRejected) as caught:
        await rig.client.cancel_ebarimt("eb-1")

    assert (caught.value.code, caught.value.status) == (code, status)


async def test_flattens_nested_validation_errors_when_qpay_rejects_fields(
    rig: Rig,
) -> None:
    detail = {"page_limit": {"type": "MIN_NUMBER", "message": "Number min value [1]!"}}
    rig.router.post("/payment/check").respond(
        400, json={"error": detail, "message": detail}
    )

    with pytest.raises(QPayRejected) as caught:
        await rig.client.check_payment(INVOICE_ID)

    assert caught.value.code == "VALIDATION_ERROR"
    assert caught.value.fields == {"page_limit": "MIN_NUMBER"}
    assert caught.value.message == "page_limit: MIN_NUMBER Number min value [1]!"


async def test_raises_unavailable_with_an_excerpt_when_a_5xx_body_is_not_json(
    rig: Rig,
) -> None:
    page = "<html><body>" + "Bad Gateway " * 100 + "</body></html>"
    rig.router.post("/invoice").respond(502, text=page)

    with pytest.raises(QPayUnavailable) as caught:
        await create(rig.client)

    assert "Bad Gateway" in caught.value.message
    assert len(caught.value.message) < 300


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>maintenance</html>"),
        httpx.Response(200, json={"qr_text": "0002"}),  # no invoice_id
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(302, headers={"Location": "https://qpay.mn/"}),
    ],
)
async def test_raises_unavailable_reached_when_invoice_create_answers_garbage(
    rig: Rig, answer: httpx.Response
) -> None:
    route = rig.router.post("/invoice").mock(return_value=answer)

    with pytest.raises(QPayUnavailable) as caught:
        await create(rig.client)

    assert caught.value.may_have_reached is True
    assert route.call_count == 1
    assert rig.observed[-1] == ("invoice_create", "malformed")


async def test_reports_the_row_not_the_page_when_a_check_row_has_a_bad_amount(
    rig: Rig,
) -> None:
    bad = {"payment_id": "p1", "payment_status": "PAID", "payment_amount": "NaN"}
    good = {"payment_id": "p2", "payment_status": "PAID", "payment_amount": "5.00"}
    rig.router.post("/payment/check").respond(
        200, json={"count": 2, "paid_amount": 5, "rows": [bad, good]}
    )

    result = await rig.client.check_payment(INVOICE_ID)

    assert [row.payment_id for row in result.rows] == ["p2"]
    (problem,) = result.problems
    assert (problem.payment_id, problem.status) == ("p1", "PAID")
    assert "payment_amount" in problem.reason


async def test_reports_each_attempt_once_to_the_observer_when_calls_run(
    rig: Rig,
) -> None:
    rig.router.get(f"/invoice/{INVOICE_ID}").mock(
        side_effect=[
            httpx.Response(401, json={"error": "NO_CREDENDIALS"}),
            httpx.ReadTimeout("slow"),
            httpx.Response(200, json=INVOICE),
        ]
    )
    rig.router.post("/invoice").respond(400, json={"error": "INVOICE_CODE_INVALID"})

    await rig.client.get_invoice(INVOICE_ID)
    with pytest.raises(QPayRejected):
        await create(rig.client)

    assert rig.observed == [
        ("auth_token", "ok"),
        ("invoice_get", "auth_401"),
        ("auth_token", "ok"),
        ("invoice_get", "timeout"),
        ("invoice_get", "ok"),
        ("invoice_create", "http_4xx"),
    ]


async def test_keeps_secrets_out_of_reprs_messages_and_logs_when_things_fail(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rig.router.get(f"/invoice/{INVOICE_ID}").respond(401, json={"error": "X"})
    rig.router.post("/auth/refresh").respond(401, text="refresh-1 rejected")
    errors: list[QPayError] = []

    with pytest.raises(QPayAuthError) as first:
        await rig.client.get_invoice(INVOICE_ID)
    errors.append(first.value)
    rig.token_route.side_effect = None
    rig.token_route.return_value = httpx.Response(
        200, json={"access_token": "access-LEAK", "refresh_token": "refresh-LEAK"}
    )
    rig.clock.advance(86_400 - 10)
    with pytest.raises(QPayUnavailable) as second:
        await rig.client.get_invoice(INVOICE_ID)
    errors.append(second.value)

    secrets = [CLIENT_SECRET, "access-1", "access-2", "refresh-1", "LEAK"]
    texts = [repr(rig.client), str(rig.client), repr(rig.client._tokens)]
    texts += [f"{e!s} {e!r} {e.message}" for e in errors]
    texts += [caplog.text]
    assert all(s not in text for s in secrets for text in texts)
    assert all(e.__context__ is None and e.__cause__ is None for e in errors)


async def test_retries_a_read_but_not_a_write_when_qpay_answers_429(rig: Rig) -> None:
    read = rig.router.get(f"/invoice/{INVOICE_ID}").mock(
        side_effect=[httpx.Response(429), httpx.Response(200, json=INVOICE)]
    )
    write = rig.router.post("/invoice").respond(429)

    await rig.client.get_invoice(INVOICE_ID)
    with pytest.raises(QPayUnavailable) as caught:
        await create(rig.client)

    assert read.call_count == 2
    assert write.call_count == 1
    assert caught.value.may_have_reached is False


async def test_counts_every_payment_check_attempt_retries_included() -> None:
    router = respx.Router(base_url=BASE_URL, assert_all_mocked=True)
    transport = httpx.MockTransport(router.async_handler)
    counted: list[str] = []
    async with httpx.AsyncClient(base_url=BASE_URL, transport=transport) as http:
        rig = make_rig(
            router, http, FixedClock(START), on_check=lambda: counted.append("x")
        )
        router.post("/payment/check").mock(
            side_effect=[
                httpx.Response(500, json={"error": "SYSTEM_BUSY"}),
                httpx.Response(200, json={"count": 0, "rows": []}),
            ]
        )
        router.get(f"/invoice/{INVOICE_ID}").respond(200, json=INVOICE)

        await rig.client.check_payment(INVOICE_ID)
        await rig.client.get_invoice(INVOICE_ID)

    assert len(counted) == 2


async def test_asks_again_when_a_read_answer_is_garbled(rig: Rig) -> None:
    route = rig.router.get(f"/invoice/{INVOICE_ID}").mock(
        side_effect=[
            httpx.Response(200, content=b'{"invoice_id": "inv-1", "invo'),
            httpx.Response(200, json=INVOICE),
        ]
    )

    answer = await rig.client.get_invoice(INVOICE_ID)

    assert answer.invoice_id == INVOICE_ID
    assert route.call_count == 2
    assert ("invoice_get", "malformed") in rig.observed
