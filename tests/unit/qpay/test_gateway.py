"""QPayGateway: QPay answers become domain values, QPay errors domain errors."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import httpx
import pytest

from domain.ebarimt import EbarimtReceiverType
from domain.errors import GatewayRejected, GatewayUnavailable
from domain.ports import PaymentGateway
from domain.qpay_messages import (
    CancelOutcome,
    Deeplink,
    InvoiceRequest,
    PaymentRow,
    QPayEnvironment,
    ReceiptRequest,
)
from qpay.gateway import QPayGateway
from tests.unit.qpay.conftest import Rig, body_of

pytestmark = pytest.mark.anyio

REQUEST = InvoiceRequest(
    sender_invoice_no="INV-42",
    amount=Decimal("15000.50"),
    description="Шүдний эмчилгээ " * 30,
    callback_url="https://clinic.test/qpay/callback/42?token=t",
)
CREATED = {
    "invoice_id": "inv-42",
    "qr_text": "000201",
    "qr_image": "iVBORw0KGgo=",
    "qPay_shortUrl": "https://s.qpay.mn/x",
    "urls": [
        {
            "name": "Khan bank",
            "description": "Хаан банк",
            "logo": "https://qpay.mn/q/logo/khanbank.png",
            "link": "khanbank://q?qPay_QRcode=000201",
        }
    ],
}


def gateway(rig: Rig, ebarimt_api: Literal["v2", "v3"] = "v2") -> PaymentGateway:
    adapter: PaymentGateway = QPayGateway(
        rig.client,
        environment=QPayEnvironment.SANDBOX,
        invoice_code="TEST_INVOICE",
        receiver_code="terminal",
        ebarimt_api=ebarimt_api,
    )
    return adapter


async def test_sends_our_invoice_code_and_maps_the_answer_when_creating(
    rig: Rig,
) -> None:
    route = rig.router.post("/invoice").respond(200, json=CREATED)

    created = await gateway(rig).create_invoice(REQUEST)

    body = body_of(route.calls.last.request)
    assert body["invoice_code"] == "TEST_INVOICE"
    assert body["invoice_receiver_code"] == "terminal"
    assert body["amount"] == "15000.50"
    assert len(body["invoice_description"]) == 255
    assert created.qpay_invoice_id == "inv-42"
    assert created.qr_image == "iVBORw0KGgo="
    assert created.short_url == "https://s.qpay.mn/x"
    assert created.deeplinks == (
        Deeplink(
            name="Khan bank",
            link="khanbank://q?qPay_QRcode=000201",
            description="Хаан банк",
            logo="https://qpay.mn/q/logo/khanbank.png",
        ),
    )
    assert "qr_image" not in created.raw
    assert created.raw["qPay_shortUrl"] == "https://s.qpay.mn/x"


@pytest.mark.parametrize(
    ("effect", "reached"),
    [
        (httpx.ReadTimeout("slow"), True),
        (httpx.Response(503, text="busy"), True),
        (httpx.ConnectError("refused"), False),
    ],
)
async def test_raises_gateway_unavailable_with_reach_when_qpay_fails(
    rig: Rig, effect: httpx.Response | Exception, reached: bool
) -> None:
    rig.router.post("/invoice").mock(side_effect=[effect])

    with pytest.raises(GatewayUnavailable) as caught:
        await gateway(rig).create_invoice(REQUEST)

    assert caught.value.may_have_reached is reached


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (400, {"error": "INVOICE_CODE_INVALID"}, "INVOICE_CODE_INVALID"),
        (
            400,
            {"error": {"amount": {"type": "MIN_NUMBER", "message": "min"}}},
            "VALIDATION_ERROR",
        ),
        (422, {"error": "INVOICE_NOTFOUND"}, "INVOICE_NOTFOUND"),
        (403, {"unexpected": True}, "HTTP_403"),
    ],
)
async def test_raises_gateway_rejected_with_qpays_code_when_qpay_refuses(
    rig: Rig, status: int, body: dict[str, object], code: str
) -> None:
    rig.router.post("/invoice").respond(status, json=body)

    with pytest.raises(GatewayRejected) as caught:
        await gateway(rig).create_invoice(REQUEST)

    assert caught.value.qpay_code == code


async def test_raises_gateway_rejected_when_credentials_are_refused(
    rig: Rig,
) -> None:
    rig.token_route.side_effect = None
    rig.token_route.return_value = httpx.Response(
        401, json={"error": "AUTHENTICATION_FAILED", "message": "AUTHENTICATION_FAILED"}
    )

    with pytest.raises(GatewayRejected) as caught:
        await gateway(rig).check_payment("inv-42")

    assert caught.value.qpay_code == "AUTHENTICATION_FAILED"


async def test_maps_every_row_and_keeps_raw_pages_when_checking(rig: Rig) -> None:
    rows = [
        {
            "payment_id": "493622150113497",
            "payment_status": "PAID",
            "payment_amount": "100.00",
            "payment_currency": "MNT",
            "transaction_type": "P2P",
            "payemnt_wallet": "x",
        },
        {
            "payment_id": "card-1",
            "payment_status": "REFUNDED",
            "payment_amount": 50,
            "payment_type": "CARD",
        },
    ]
    page = {"count": 2, "paid_amount": 100, "rows": rows}
    rig.router.post("/payment/check").respond(200, json=page)

    check = await gateway(rig).check_payment("inv-42")

    assert check.rows == (
        PaymentRow("493622150113497", "PAID", Decimal("100.00"), "MNT", "P2P"),
        PaymentRow("card-1", "REFUNDED", Decimal(50), "MNT", "CARD"),
    )
    assert [row.is_paid for row in check.rows] == [True, False]
    assert check.raw == {"count": 2, "pages": [page]}


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (httpx.Response(200, json={}), CancelOutcome.CANCELLED),
        (
            httpx.Response(400, json={"error": "INVOICE_ALREADY_CANCELED"}),
            CancelOutcome.ALREADY_CANCELLED,
        ),
        (
            httpx.Response(400, json={"error": "INVOICE_PAID"}),
            CancelOutcome.ALREADY_PAID,
        ),
    ],
)
async def test_returns_the_outcome_when_cancelling_an_invoice(
    rig: Rig, answer: httpx.Response, outcome: CancelOutcome
) -> None:
    rig.router.delete("/invoice/inv-42").mock(return_value=answer)

    assert await gateway(rig).cancel_invoice("inv-42") is outcome


async def test_raises_rejected_when_cancelling_an_unknown_invoice(rig: Rig) -> None:
    rig.router.delete("/invoice/nope").respond(400, json={"error": "INVOICE_NOTFOUND"})

    with pytest.raises(GatewayRejected) as caught:
        await gateway(rig).cancel_invoice("nope")

    assert caught.value.qpay_code == "INVOICE_NOTFOUND"


@pytest.mark.parametrize(
    ("family", "path"), [("v2", "/ebarimt/create"), ("v3", "/ebarimt_v3/create")]
)
async def test_uses_the_chosen_family_when_issuing_a_receipt(
    rig: Rig, family: Literal["v2", "v3"], path: str
) -> None:
    receipt = {"id": "eb-9", "ebarimt_lottery": "AB 1", "ebarimt_qr_data": "99"}
    route = rig.router.post(path).respond(200, json=receipt)
    request = ReceiptRequest("pay-1", EbarimtReceiverType.COMPANY, "5317878")

    issued = await gateway(rig, family).create_receipt(request)

    assert body_of(route.calls.last.request) == {
        "payment_id": "pay-1",
        "ebarimt_receiver_type": "COMPANY",
        "ebarimt_receiver": "5317878",
    }
    assert (issued.ebarimt_id, issued.lottery, issued.qr_data) == ("eb-9", "AB 1", "99")
    assert issued.raw == receipt


async def test_reports_the_environment_and_hides_secrets_when_printed(
    rig: Rig,
) -> None:
    adapter = gateway(rig)

    assert adapter.environment is QPayEnvironment.SANDBOX
    assert "s3cret" not in repr(adapter)


GOOD_ROW = {"payment_id": "p-good", "payment_status": "PAID", "payment_amount": "5.00"}


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"payment_amount": "0"}, "above 0"),
        ({"payment_amount": "0.001"}, "more than 2 decimals"),
        ({"payment_amount": 10.005}, "more than 2 decimals"),
        ({"payment_amount": "1000000000000000.00"}, "must not exceed"),
        ({"payment_id": "9" * 65}, "longer than 64"),
        ({"payment_currency": "US Dollar"}, "not a code"),
        ({"payment_amount": "abc"}, "payment_amount"),
    ],
)
async def test_flags_a_paid_row_that_cannot_be_recorded_and_keeps_the_others(
    rig: Rig, row: dict[str, object], reason: str
) -> None:
    bad = {
        "payment_id": "p-bad",
        "payment_status": "PAID",
        "payment_amount": "5.00",
        **row,
    }
    rig.router.post("/payment/check").respond(
        200, json={"count": 2, "rows": [bad, GOOD_ROW]}
    )

    check = await gateway(rig).check_payment("inv-42")

    assert check.rows == (PaymentRow("p-good", "PAID", Decimal("5.00"), "MNT"),)
    (malformed,) = check.malformed
    assert malformed.payment_id == str(bad["payment_id"])[:64]
    assert reason in malformed.reason


async def test_leaves_out_a_bad_row_that_is_not_paid_when_checking(rig: Rig) -> None:
    failed = {
        "payment_id": "p-old",
        "payment_status": "FAILED",
        "payment_amount": "0",
    }
    rig.router.post("/payment/check").respond(
        200, json={"count": 2, "rows": [failed, GOOD_ROW]}
    )

    check = await gateway(rig).check_payment("inv-42")

    assert [row.payment_id for row in check.rows] == ["p-good"]
    assert check.malformed == ()


async def test_reads_a_foreign_currency_in_capitals_when_checking(rig: Rig) -> None:
    row = {**GOOD_ROW, "payment_currency": "usd"}
    rig.router.post("/payment/check").respond(200, json={"count": 1, "rows": [row]})

    check = await gateway(rig).check_payment("inv-42")

    assert check.rows[0].currency == "USD"
