"""The simulator's main scenarios against QPay's public sandbox, to keep the
simulator honest. Skipped unless QPAY_SANDBOX=1 (it needs the internet).

    QPAY_SANDBOX=1 pytest tests/contract

Credentials default to the published sandbox merchant (reference §10) and can
be overridden with QPAY_SANDBOX_CLIENT_ID / _CLIENT_SECRET / _INVOICE_CODE.
The sandbox cannot simulate a payment, so checks expect no rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from domain.errors import GatewayRejected
from domain.qpay_messages import CancelOutcome, InvoiceRequest, QPayEnvironment
from qpay.client import QPayClient, make_http_client
from qpay.errors import QPayAuthError, QPayNotFound, QPayRejected
from qpay.gateway import QPayGateway

SANDBOX_URL = "https://merchant-sandbox.qpay.mn/v2"
CLIENT_ID = os.environ.get("QPAY_SANDBOX_CLIENT_ID", "TEST_MERCHANT")
CLIENT_SECRET = os.environ.get("QPAY_SANDBOX_CLIENT_SECRET", "123456")
INVOICE_CODE = os.environ.get("QPAY_SANDBOX_INVOICE_CODE", "TEST_INVOICE")

pytestmark = [
    pytest.mark.contract,
    pytest.mark.anyio,
    pytest.mark.enable_socket,  # the only tests allowed off this machine
    pytest.mark.skipif(
        os.environ.get("QPAY_SANDBOX") != "1",
        reason="talks to the QPay sandbox; set QPAY_SANDBOX=1 to run",
    ),
]


@pytest.fixture
async def client() -> AsyncIterator[QPayClient]:
    async with make_http_client(SANDBOX_URL) as http:
        yield QPayClient(http, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)


@pytest.fixture
def gateway(client: QPayClient) -> QPayGateway:
    return QPayGateway(
        client, environment=QPayEnvironment.SANDBOX, invoice_code=INVOICE_CODE
    )


def invoice_request(amount: str = "100") -> InvoiceRequest:
    return InvoiceRequest(
        sender_invoice_no=f"QPG-{uuid.uuid4().hex[:20]}",
        amount=Decimal(amount),
        description="qpay-graph contract test",
        callback_url="https://example.com/qpay/callback/contract?token=x",
    )


async def test_creates_checks_and_cancels_an_invoice_when_talking_to_the_sandbox(
    client: QPayClient, gateway: QPayGateway
) -> None:
    created = await gateway.create_invoice(invoice_request())

    invoice = await client.get_invoice(created.qpay_invoice_id)
    check = await gateway.check_payment(created.qpay_invoice_id)
    first = await gateway.cancel_invoice(created.qpay_invoice_id)
    second = await gateway.cancel_invoice(created.qpay_invoice_id)

    assert created.qr_text.startswith("0002")
    assert created.qr_image and not created.qr_image.startswith("data:")
    assert any(link.link.startswith("khanbank://") for link in created.deeplinks)
    assert invoice.invoice_status == "OPEN"
    assert invoice.total_amount == Decimal(100)
    assert check.rows == ()
    assert first is CancelOutcome.CANCELLED
    assert second is CancelOutcome.ALREADY_CANCELLED


async def test_accepts_a_fractional_amount_string_when_creating_in_the_sandbox(
    client: QPayClient, gateway: QPayGateway
) -> None:
    created = await gateway.create_invoice(invoice_request("100.50"))

    invoice = await client.get_invoice(created.qpay_invoice_id)
    await gateway.cancel_invoice(created.qpay_invoice_id)

    assert invoice.total_amount == Decimal("100.50")


async def test_answers_not_found_when_the_invoice_is_unknown_in_the_sandbox(
    client: QPayClient,
) -> None:
    with pytest.raises(QPayNotFound) as caught:
        await client.get_invoice(str(uuid.uuid4()))

    assert caught.value.code == "INVOICE_NOTFOUND"


async def test_rejects_an_unknown_invoice_code_when_creating_in_the_sandbox(
    client: QPayClient,
) -> None:
    gateway = QPayGateway(
        client, environment=QPayEnvironment.SANDBOX, invoice_code="NO_SUCH_CODE"
    )

    with pytest.raises(GatewayRejected):
        await gateway.create_invoice(invoice_request())


async def test_rejects_a_zero_page_limit_with_a_nested_error_in_the_sandbox(
    client: QPayClient,
) -> None:
    created = await client.create_invoice(
        invoice_code=INVOICE_CODE,
        sender_invoice_no=f"QPG-{uuid.uuid4().hex[:20]}",
        invoice_receiver_code="terminal",
        invoice_description="qpay-graph contract test",
        amount=Decimal(100),
        callback_url="https://example.com/qpay/callback/contract",
    )
    try:
        # Sent raw: the client itself refuses page_limit=0 before calling.
        with pytest.raises(QPayRejected) as caught:
            await client._call(
                "POST",
                "/payment/check",
                endpoint="payment_check",
                body={
                    "object_type": "INVOICE",
                    "object_id": created.invoice_id,
                    "offset": {"page_number": 1, "page_limit": 0},
                },
                parse=lambda data: data,
                read=True,
            )
    finally:
        await client.cancel_invoice(created.invoice_id)

    assert caught.value.fields.get("page_limit") == "MIN_NUMBER"


async def test_refuses_wrong_credentials_when_logging_in_to_the_sandbox() -> None:
    async with make_http_client(SANDBOX_URL) as http:
        client = QPayClient(http, client_id=CLIENT_ID, client_secret="wrong")

        with pytest.raises(QPayAuthError) as caught:
            await client.get_invoice(str(uuid.uuid4()))

    assert caught.value.code == "AUTHENTICATION_FAILED"
