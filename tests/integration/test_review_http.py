"""A NEEDS_REVIEW intent says why, to staff, over HTTP (issue 15, item 3)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.harness import Harness
from tests.integration.gql import new_intent, new_invoice, wait_for_intent

pytestmark = [pytest.mark.db, pytest.mark.anyio]

INTENT = """
query($id: ID!) { qpayIntent(id: $id) { status paidAmount reviewReason lastError } }
"""


async def test_a_short_payment_shows_its_reason(harness: Harness) -> None:
    invoice_id = await new_invoice(harness, "10000.00")
    intent = (await new_intent(harness, invoice_id))["intent"]

    harness.simulator.pay(intent["qpayInvoiceId"], amount=Decimal("4000.00"))
    await wait_for_intent(harness, intent["id"], lambda r: r["status"] != "PENDING")

    body = await harness.gql(INTENT, {"id": intent["id"]})
    assert body["data"]["qpayIntent"] == {
        "status": "NEEDS_REVIEW",
        "paidAmount": "4000.00",
        "reviewReason": "SHORT_PAID",
        "lastError": None,
    }


async def test_foreign_money_shows_its_reason_and_detail(harness: Harness) -> None:
    invoice_id = await new_invoice(harness, "10000.00")
    intent = (await new_intent(harness, invoice_id))["intent"]

    harness.simulator.pay(intent["qpayInvoiceId"], currency="USD")
    await wait_for_intent(harness, intent["id"], lambda r: r["status"] != "PENDING")

    found = (await harness.gql(INTENT, {"id": intent["id"]}))["data"]["qpayIntent"]
    assert (found["status"], found["reviewReason"]) == (
        "NEEDS_REVIEW",
        "FOREIGN_CURRENCY",
    )
    assert "USD" in found["lastError"] and found["paidAmount"] == "0.00"
