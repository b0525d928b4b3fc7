"""Who did what (issue 15, item 4): every staff write records its token's
sub, every change lands in the invoice's append-only history, read as
Invoice.events; the service's own work has no actor."""

from __future__ import annotations

from typing import Any

import pytest

from app.staff_tokens import StaffTokens
from tests.conftest import TEST_JWT_SECRET
from tests.gql import CANCEL, CREATE_QPAY, SETTLE
from tests.harness import Harness
from tests.integration.gql import new_invoice, wait_for_intent

pytestmark = [pytest.mark.db, pytest.mark.anyio]

EVENTS = """
query($id: ID!) {
  invoice(id: $id) {
    events {
      kind actor intentStatus at
      invoice { id } payment { id amount method } intent { id status }
    }
  }
}
"""
BOLD = StaffTokens(TEST_JWT_SECRET).issue(subject="dr.bold")
SARNAI = StaffTokens(TEST_JWT_SECRET).issue(subject="sarnai")


async def events_of(harness: Harness, invoice_id: str) -> list[dict[str, Any]]:
    body = await harness.gql(EVENTS, {"id": invoice_id})
    assert "errors" not in body, body
    found: list[dict[str, Any]] = body["data"]["invoice"]["events"]
    return found


def cash(invoice_id: str, amount: str, key: str) -> dict[str, Any]:
    return {
        "input": {
            "invoiceId": invoice_id,
            "method": "CASH",
            "amount": amount,
            "idempotencyKey": key,
        }
    }


async def test_a_payment_at_the_desk_names_who_took_it(harness: Harness) -> None:
    invoice_id = await new_invoice(harness, "15000.00")

    settled = await harness.gql(SETTLE, cash(invoice_id, "5000.00", "h-1"), token=BOLD)
    replayed = await harness.gql(SETTLE, cash(invoice_id, "5000.00", "h-1"), token=BOLD)

    payment = settled["data"]["settleInvoice"]["payment"]
    assert replayed["data"]["settleInvoice"]["alreadySettled"] is True
    (event,) = await events_of(harness, invoice_id)
    assert event["kind"] == "PAYMENT_RECORDED" and event["actor"] == "dr.bold"
    assert event["payment"] == {
        "id": payment["id"],
        "amount": "5000.00",
        "method": "CASH",
    }
    assert event["invoice"] == {"id": invoice_id} and event["intent"] is None


async def test_a_qpay_payment_tells_who_made_the_qr_and_that_the_service_took_it(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness, "15000.00")
    created = await harness.gql(
        CREATE_QPAY, {"input": {"invoiceId": invoice_id}}, token=SARNAI
    )
    intent = created["data"]["createQPayInvoice"]["intent"]

    harness.simulator.pay(intent["qpayInvoiceId"])  # the callback settles it
    await wait_for_intent(harness, intent["id"], lambda row: row["status"] == "PAID")

    found = await events_of(harness, invoice_id)
    assert [(e["kind"], e["actor"], e["intentStatus"]) for e in found] == [
        ("INTENT_CHANGED", "sarnai", "PENDING"),
        ("PAYMENT_RECORDED", None, None),
        ("INTENT_CHANGED", None, "PAID"),
    ]
    assert found[1]["intent"] == {"id": intent["id"], "status": "PAID"}
    assert found[1]["payment"]["method"] == "QPAY"


async def test_a_cancellation_names_the_staff_member(harness: Harness) -> None:
    invoice_id = await new_invoice(harness, "15000.00")
    created = await harness.gql(CREATE_QPAY, {"input": {"invoiceId": invoice_id}})
    intent_id = created["data"]["createQPayInvoice"]["intent"]["id"]

    cancelled = await harness.gql(CANCEL, {"id": intent_id}, token=BOLD)

    assert cancelled["data"]["cancelQPayInvoice"]["errors"] == []
    last = (await events_of(harness, invoice_id))[-1]
    assert (last["kind"], last["actor"], last["intentStatus"]) == (
        "INTENT_CHANGED",
        "dr.bold",
        "CANCELLED",
    )


async def test_a_refused_write_leaves_no_history(harness: Harness) -> None:
    invoice_id = await new_invoice(harness, "100.00")

    refused = await harness.gql(SETTLE, cash(invoice_id, "500.00", "h-2"), token=BOLD)

    assert refused["data"]["settleInvoice"]["errors"][0]["code"] == (
        "AMOUNT_EXCEEDS_BALANCE"
    )
    assert await events_of(harness, invoice_id) == []
