"""Races on real PostgreSQL with real commits on separate connections."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from tests import db
from tests.gql import CANCEL, CHECK, CREATE_QPAY, SETTLE
from tests.harness import Harness
from tests.integration.gql import allow_check_now, new_intent, new_invoice, qpay_calls
from tests.integration.test_payments_http import harness_url

pytestmark = [pytest.mark.db, pytest.mark.anyio]


async def test_one_payment_when_20_settles_and_20_checks_race_on_a_paid_intent(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness, "15000.00")
    intent = (await new_intent(harness, invoice_id))["intent"]
    harness.simulator.set_callbacks(drop=True)
    harness.simulator.pay(intent["qpayInvoiceId"])
    settle = {
        "input": {
            "invoiceId": invoice_id,
            "method": "QPAY",
            "amount": "15000.00",
            "qpayIntentId": intent["id"],
        }
    }

    answers = await asyncio.gather(
        *(harness.gql(SETTLE, settle) for _ in range(20)),
        *(harness.gql(CHECK, {"id": intent["id"]}) for _ in range(20)),
    )

    settles = [a["data"]["settleInvoice"] for a in answers[:20]]
    checks = [a["data"]["checkQPayPayment"] for a in answers[20:]]
    assert all(s["errors"] == [] for s in settles)
    assert len({s["payment"]["id"] for s in settles}) == 1
    assert sum(1 for s in settles if not s["alreadySettled"]) <= 1
    assert all(c["errors"] == [] for c in checks)
    assert {c["intent"]["status"] for c in checks} <= {"PENDING", "PAID"}
    rows = await db.fetch(harness_url(harness), "SELECT amount FROM payments")
    assert [Decimal(str(r[0])) for r in rows] == [Decimal("15000.00")]
    paid = await db.scalar(harness_url(harness), "SELECT paid_amount FROM invoices")
    assert Decimal(str(paid)) == Decimal("15000.00")


async def test_one_payment_and_50_equal_answers_when_50_cash_settles_share_a_key(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness, "15000.00")
    request = {
        "input": {
            "invoiceId": invoice_id,
            "method": "CASH",
            "amount": "5000.00",
            "idempotencyKey": "till-7-receipt-42",
        }
    }

    answers = await asyncio.gather(*(harness.gql(SETTLE, request) for _ in range(50)))

    payloads = [a["data"]["settleInvoice"] for a in answers]
    assert all(p["errors"] == [] for p in payloads)
    assert len({p["payment"]["id"] for p in payloads}) == 1
    assert sum(1 for p in payloads if not p["alreadySettled"]) == 1
    assert {p["invoice"]["paidAmount"] for p in payloads} == {"5000.00"}
    assert await db.scalar(harness_url(harness), "SELECT count(*) FROM payments") == 1


async def test_one_qpay_invoice_when_10_creates_race_for_one_invoice_and_amount(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness, "15000.00")

    answers = await asyncio.gather(
        *(
            harness.gql(CREATE_QPAY, {"input": {"invoiceId": invoice_id}})
            for _ in range(10)
        )
    )

    payloads = [a["data"]["createQPayInvoice"] for a in answers]
    assert all(p["errors"] == [] for p in payloads)
    assert len({p["intent"]["id"] for p in payloads}) == 1
    assert qpay_calls(harness, "/v2/invoice", "POST") == 1


async def test_money_after_cancellation_is_recorded_and_needs_review_when_it_arrives(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness, "15000.00")
    intent = (await new_intent(harness, invoice_id))["intent"]
    cancelled = await harness.gql(CANCEL, {"id": intent["id"]})
    harness.simulator.set_callbacks(drop=True)

    harness.simulator.pay(
        intent["qpayInvoiceId"], force=True
    )  # raced the cancel at QPay
    await harness.client.get(
        f"/qpay/callback/{intent['id']}", params={"token": "wrong"}
    )  # a forged callback does nothing
    url = harness_url(harness)
    token_free = await db.scalar(url, "SELECT count(*) FROM qpay_callbacks")
    await allow_check_now(harness, intent["id"])
    # The poller leaves closed intents alone; a cashier's check asks QPay in
    # any state (the ledger sweep finds it too:
    # tests/integration/test_ledger_sweep_sql.py).
    checked = await harness.gql(CHECK, {"id": intent["id"]})

    assert cancelled["data"]["cancelQPayInvoice"]["intent"]["status"] == "CANCELLED"
    assert token_free == 0
    intent_after = checked["data"]["checkQPayPayment"]["intent"]
    assert intent_after["status"] == "NEEDS_REVIEW"
    assert intent_after["paidAmount"] == "15000.00"
    assert await db.scalar(url, "SELECT count(*) FROM payments") == 1


async def test_intent_stays_pending_and_answer_is_unavailable_when_qpay_is_down(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness, "15000.00")
    intent = (await new_intent(harness, invoice_id))["intent"]
    harness.simulator.fail_next("/v2/payment/check", count=10, status=500, body="down")

    body = await harness.gql(
        SETTLE,
        {
            "input": {
                "invoiceId": invoice_id,
                "method": "QPAY",
                "amount": "15000.00",
                "qpayIntentId": intent["id"],
            }
        },
    )

    assert body["data"]["settleInvoice"]["errors"][0]["code"] == "QPAY_UNAVAILABLE"
    status = await db.scalar(harness_url(harness), "SELECT status FROM qpay_intents")
    assert status == "PENDING"
    assert await db.scalar(harness_url(harness), "SELECT count(*) FROM payments") == 0
