"""Money QPay takes on an intent that is no longer PENDING is recorded, even
when its callback is lost: checkQPayPayment and settleInvoice(QPAY) ask QPay
whatever the intent's state (issue 12, part 1)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests import db
from tests.gql import CANCEL, CHECK, SETTLE
from tests.harness import Harness
from tests.integration.gql import (
    allow_check_now,
    new_intent,
    new_invoice,
    wait_for_intent,
)
from tests.integration.test_payments_http import harness_url

pytestmark = [pytest.mark.db, pytest.mark.anyio]


def settle_qpay(invoice_id: str, intent: dict[str, str]) -> dict[str, object]:
    return {
        "input": {
            "invoiceId": invoice_id,
            "method": "QPAY",
            "amount": intent["amount"],
            "qpayIntentId": intent["id"],
        }
    }


async def payments(harness: Harness) -> list[Decimal]:
    rows = await db.fetch(
        harness_url(harness), "SELECT amount FROM payments ORDER BY amount"
    )
    return [Decimal(str(row[0])) for row in rows]


async def test_check_records_the_rest_when_a_short_paid_intent_takes_more_money(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness, "15000.00")
    intent = (await new_intent(harness, invoice_id))["intent"]
    harness.simulator.pay(intent["qpayInvoiceId"], Decimal("10000.00"))
    await wait_for_intent(harness, intent["id"], lambda r: r["paid_amount"] > 0)
    harness.simulator.set_callbacks(drop=True)
    harness.simulator.pay(intent["qpayInvoiceId"], Decimal("5000.00"), force=True)
    await allow_check_now(harness, intent["id"])

    body = await harness.gql(CHECK, {"id": intent["id"]})

    checked = body["data"]["checkQPayPayment"]["intent"]
    assert checked["status"] == "NEEDS_REVIEW"
    assert checked["paidAmount"] == "15000.00"
    assert await payments(harness) == [Decimal("5000.00"), Decimal("10000.00")]


async def test_check_records_a_payment_made_after_the_cashier_cancelled(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness, "15000.00")
    intent = (await new_intent(harness, invoice_id))["intent"]
    await harness.gql(CANCEL, {"id": intent["id"]})
    harness.simulator.set_callbacks(drop=True)
    harness.simulator.pay(intent["qpayInvoiceId"], force=True)
    await allow_check_now(harness, intent["id"])

    body = await harness.gql(CHECK, {"id": intent["id"]})

    checked = body["data"]["checkQPayPayment"]["intent"]
    assert checked["status"] == "NEEDS_REVIEW"
    assert checked["paidAmount"] == "15000.00"
    assert await payments(harness) == [Decimal("15000.00")]


async def test_settle_records_a_second_scan_of_a_paid_qr(harness: Harness) -> None:
    invoice_id = await new_invoice(harness, "15000.00")
    intent = (await new_intent(harness, invoice_id))["intent"]
    harness.simulator.set_callbacks(drop=True)
    harness.simulator.pay(intent["qpayInvoiceId"])
    first = await harness.gql(SETTLE, settle_qpay(invoice_id, intent))
    harness.simulator.pay(intent["qpayInvoiceId"], force=True)  # scanned again
    await allow_check_now(harness, intent["id"])

    again = await harness.gql(SETTLE, settle_qpay(invoice_id, intent))

    payload = again["data"]["settleInvoice"]
    assert payload["errors"] == []
    assert payload["alreadySettled"] is True
    assert payload["payment"] == first["data"]["settleInvoice"]["payment"]
    assert payload["invoice"]["status"] == "OVERPAID"
    assert payload["invoice"]["paidAmount"] == "30000.00"
    assert await payments(harness) == [Decimal("15000.00")] * 2


async def test_check_records_a_second_scan_of_a_paid_qr(harness: Harness) -> None:
    invoice_id = await new_invoice(harness, "15000.00")
    intent = (await new_intent(harness, invoice_id))["intent"]
    harness.simulator.set_callbacks(drop=True)
    harness.simulator.pay(intent["qpayInvoiceId"])
    await harness.gql(CHECK, {"id": intent["id"]})
    harness.simulator.pay(intent["qpayInvoiceId"], force=True)
    await allow_check_now(harness, intent["id"])

    body = await harness.gql(CHECK, {"id": intent["id"]})

    checked = body["data"]["checkQPayPayment"]["intent"]
    assert checked["status"] == "NEEDS_REVIEW"
    assert checked["paidAmount"] == "30000.00"


async def test_settle_of_a_short_paid_intent_says_how_much_qpay_shows(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness, "15000.00")
    intent = (await new_intent(harness, invoice_id))["intent"]
    harness.simulator.set_callbacks(drop=True)
    harness.simulator.pay(intent["qpayInvoiceId"], Decimal("10000.00"))

    body = await harness.gql(SETTLE, settle_qpay(invoice_id, intent))

    payload = body["data"]["settleInvoice"]
    (error,) = payload["errors"]
    assert error["code"] == "PAYMENT_NOT_CONFIRMED"
    assert "10000.00 of 15000.00" in error["message"]
    assert payload["alreadySettled"] is False
    assert await payments(harness) == [Decimal("10000.00")]


async def test_settle_with_qpay_disabled_gives_method_disabled(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness, "15000.00")
    intent = (await new_intent(harness, invoice_id))["intent"]
    harness.simulator.set_callbacks(drop=True)
    harness.simulator.pay(intent["qpayInvoiceId"])
    await db.execute(
        harness_url(harness),
        "UPDATE payment_method_configs SET enabled = false WHERE method = 'QPAY'",
    )

    body = await harness.gql(SETTLE, settle_qpay(invoice_id, intent))

    (error,) = body["data"]["settleInvoice"]["errors"]
    assert (error["code"], error["field"]) == ("METHOD_DISABLED", "input.method")
    assert await payments(harness) == []
