"""The main flows, in process: token, invoice, payment through the control
API, callback, check, cancel and refund rules, e-Barimt in both families."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from domain.ebarimt import EbarimtReceiverType
from domain.errors import GatewayRejected
from domain.qpay_messages import (
    CancelOutcome,
    PaymentRow,
    QPayEnvironment,
    ReceiptRequest,
)
from qpay.errors import QPayNotFound, QPayRejected
from qpay.gateway import QPayGateway
from tests.integration.qpay.conftest import Rig

pytestmark = pytest.mark.anyio


async def test_reports_paid_with_the_exact_amount_when_an_invoice_is_paid(
    rig: Rig,
) -> None:
    created = await rig.new_invoice("15000.50")

    paid = await rig.control("pay", {"invoice_id": created.qpay_invoice_id})
    check = await rig.gateway.check_payment(created.qpay_invoice_id)

    payment_id = paid.json()["payment_id"]
    assert paid.status_code == 200
    assert check.rows == (
        PaymentRow(payment_id, "PAID", Decimal("15000.50"), "MNT", "P2P"),
    )
    assert check.raw["count"] == 1
    assert rig.calls("POST", "/v2/auth/token") == 1


async def test_delivers_the_callback_with_the_payment_id_appended_when_paid(
    rig: Rig,
) -> None:
    created = await rig.new_invoice()

    paid = await rig.control("pay", {"invoice_id": created.qpay_invoice_id})
    await rig.sim.wait_callbacks()

    [callback] = rig.receiver.received
    assert callback.method == "GET"
    assert callback.url.path == "/qpay/callback/42"
    assert dict(callback.query_params) == {
        "token": "abc",
        "qpay_payment_id": paid.json()["payment_id"],
    }
    [sent] = rig.sim.callbacks_sent
    assert sent["status"] == 200
    assert parse_qs(urlsplit(sent["url"]).query)["token"] == ["abc"]


async def test_shows_the_invoice_closed_only_when_payments_reach_its_amount(
    rig: Rig,
) -> None:
    created = await rig.new_invoice("10000")
    invoice_id = created.qpay_invoice_id

    await rig.control("pay", {"invoice_id": invoice_id, "amount": "4000.50"})
    partly = await rig.client.get_invoice(invoice_id)
    await rig.control("pay", {"invoice_id": invoice_id, "amount": "5999.50"})
    fully = await rig.client.get_invoice(invoice_id)
    check = await rig.client.check_payment(invoice_id)

    assert (partly.invoice_status, fully.invoice_status) == ("OPEN", "CLOSED")
    assert fully.total_amount == Decimal("10000.00")
    assert check.paid_amount == Decimal(10000)
    assert sorted(r.payment_amount for r in check.rows) == [
        Decimal("4000.50"),
        Decimal("5999.50"),
    ]


async def test_reads_the_documented_row_shape_when_the_simulator_switches(
    rig: Rig,
) -> None:
    created = await rig.new_invoice("700")
    await rig.control("pay", {"invoice_id": created.qpay_invoice_id})

    switched = await rig.control("row-shape", {"shape": "documented"})
    check = await rig.client.check_payment(created.qpay_invoice_id)

    assert switched.json() == {"shape": "documented"}
    [row] = check.rows
    assert (row.transaction_type, row.payment_type) == ("P2P", None)
    assert row.payemnt_wallet is not None
    assert row.payment_amount == Decimal(700)


async def test_links_the_payment_to_its_invoice_when_getting_it(rig: Rig) -> None:
    created = await rig.new_invoice("2500")
    payment_id = rig.sim.pay(created.qpay_invoice_id, payment_type="CARD")

    payment = await rig.client.get_payment(payment_id)

    assert (payment.object_type, payment.object_id) == (
        "INVOICE",
        created.qpay_invoice_id,
    )
    assert payment.payment_amount == Decimal(2500)
    assert payment.transaction_type == "CARD"


async def test_cancels_once_then_reports_already_cancelled_when_unpaid(
    rig: Rig,
) -> None:
    created = await rig.new_invoice()

    first = await rig.gateway.cancel_invoice(created.qpay_invoice_id)
    second = await rig.gateway.cancel_invoice(created.qpay_invoice_id)
    invoice = await rig.client.get_invoice(created.qpay_invoice_id)

    assert (first, second) == (
        CancelOutcome.CANCELLED,
        CancelOutcome.ALREADY_CANCELLED,
    )
    assert invoice.invoice_status == "CANCELLED"


async def test_reports_already_paid_when_cancelling_a_paid_invoice(rig: Rig) -> None:
    created = await rig.new_invoice()
    rig.sim.pay(created.qpay_invoice_id)

    outcome = await rig.gateway.cancel_invoice(created.qpay_invoice_id)

    assert outcome is CancelOutcome.ALREADY_PAID


async def test_refuses_a_cancelled_invoice_unless_forced_when_paying(
    rig: Rig,
) -> None:
    created = await rig.new_invoice("300")
    await rig.gateway.cancel_invoice(created.qpay_invoice_id)

    refused = await rig.control("pay", {"invoice_id": created.qpay_invoice_id})
    forced = await rig.control(
        "pay", {"invoice_id": created.qpay_invoice_id, "force": True}
    )
    check = await rig.gateway.check_payment(created.qpay_invoice_id)

    assert refused.status_code == 409
    assert forced.status_code == 200
    assert [row.status for row in check.rows] == ["PAID"]


async def test_rejects_an_unknown_invoice_when_cancelling(rig: Rig) -> None:
    with pytest.raises(GatewayRejected) as caught:
        await rig.gateway.cancel_invoice("00000000-0000-0000-0000-000000000000")

    assert caught.value.qpay_code == "INVOICE_NOTFOUND"


async def test_refunds_a_card_payment_when_asked(rig: Rig) -> None:
    created = await rig.new_invoice("800")
    payment_id = rig.sim.pay(created.qpay_invoice_id, payment_type="CARD")

    answer = await rig.client.refund_payment(payment_id, "patient cancelled")
    check = await rig.client.check_payment(created.qpay_invoice_id)

    assert answer == {}
    assert [row.payment_status for row in check.rows] == ["REFUNDED"]
    assert check.paid_amount == Decimal(0)


async def test_cancels_a_card_payment_once_when_asked_twice(rig: Rig) -> None:
    created = await rig.new_invoice("800")
    payment_id = rig.sim.pay(created.qpay_invoice_id, payment_type="CARD")

    await rig.client.cancel_payment(payment_id, "wrong amount")
    with pytest.raises(QPayRejected) as caught:
        await rig.client.cancel_payment(payment_id, "again")

    assert caught.value.code == "PAYMENT_ALREADY_CANCELED"


@pytest.mark.parametrize("kind", ["cancel", "refund"])
async def test_refuses_with_payment_settled_when_reversing_a_bank_transfer(
    rig: Rig, kind: str
) -> None:
    created = await rig.new_invoice("800")
    payment_id = rig.sim.pay(created.qpay_invoice_id, payment_type="P2P")
    reverse = (
        rig.client.cancel_payment if kind == "cancel" else rig.client.refund_payment
    )

    with pytest.raises(QPayRejected) as caught:
        await reverse(payment_id, "note")

    assert caught.value.code == "PAYMENT_SETTLED"


async def test_issues_gets_and_cancels_a_v2_receipt_when_paid(rig: Rig) -> None:
    created = await rig.new_invoice("11000")
    payment_id = rig.sim.pay(created.qpay_invoice_id)

    issued = await rig.gateway.create_receipt(
        ReceiptRequest(payment_id, EbarimtReceiverType.CITIZEN, "99112233")
    )
    assert issued.ebarimt_id is not None
    fetched = await rig.client.get_ebarimt(issued.ebarimt_id)
    cancelled = await rig.client.cancel_ebarimt(issued.ebarimt_id)

    assert issued.lottery is not None
    assert issued.qr_data is not None
    assert fetched.ebarimt_lottery == issued.lottery
    assert fetched.amount == Decimal(11000)
    assert fetched.vat_amount == Decimal("1000.00")
    assert cancelled["barimt_status"] == "CANCELED"


async def test_issues_and_cancels_a_v3_receipt_by_payment_id_when_chosen(
    rig: Rig,
) -> None:
    gateway = QPayGateway(
        rig.client,
        environment=QPayEnvironment.MOCK,
        invoice_code="TEST_INVOICE",
        ebarimt_api="v3",
    )
    created = await rig.new_invoice("5000")
    payment_id = rig.sim.pay(created.qpay_invoice_id)

    issued = await gateway.create_receipt(
        ReceiptRequest(payment_id, EbarimtReceiverType.COMPANY, "5317878")
    )
    await rig.client.cancel_ebarimt_v3(payment_id)
    with pytest.raises(QPayNotFound):
        await rig.client.cancel_ebarimt_v3(payment_id)

    assert issued.lottery is not None
    assert rig.calls("POST", "/v2/ebarimt_v3/create") == 1
    assert rig.calls("POST", "/v2/ebarimt/create") == 0


async def test_answers_barimt_not_found_when_getting_an_unknown_receipt(
    rig: Rig,
) -> None:
    with pytest.raises(QPayNotFound) as caught:
        await rig.client.get_ebarimt("no-such-receipt")

    assert caught.value.code == "BARIMT_NOT_FOUND"


async def test_lists_payments_by_invoice_code_when_asked(rig: Rig) -> None:
    created = await rig.new_invoice("900")
    payment_id = rig.sim.pay(created.qpay_invoice_id)

    listed = await rig.client.list_payments(
        object_type="INVOICE",
        object_id="TEST_INVOICE",
        start_date="2000-01-01 00:00:00",
        end_date="2100-01-01 00:00:00",
    )

    assert [row.payment_id for row in listed.rows] == [payment_id]
    assert listed.rows[0].object_id == created.qpay_invoice_id


async def test_an_unreadable_listed_payment_names_the_qpay_invoice_it_paid(
    rig: Rig,
) -> None:
    created = await rig.new_invoice("900")
    payment_id = rig.sim.pay(created.qpay_invoice_id, raw_amount="900.005")
    now = datetime.now(UTC)

    page = await rig.gateway.list_payments(now - timedelta(hours=1), now, 1)

    assert [(m.payment_id, m.qpay_invoice_id) for m in page.malformed] == [
        (payment_id, created.qpay_invoice_id)
    ]
