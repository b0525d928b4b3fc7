"""QPay rows our tables cannot hold as they are, on real PostgreSQL: each is
recorded or flagged for a person, never an endless failure (issue 12, parts
4 and 6)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.services.poll_due_intents import PollPolicy, poll_due_intents
from tests import db
from tests.gql import CHECK, INVOICE
from tests.harness import Harness
from tests.integration.gql import intent_row, new_intent, new_invoice
from tests.integration.test_payments_http import harness_url

pytestmark = [pytest.mark.db, pytest.mark.anyio]


async def poll(harness: Harness) -> None:
    container = harness.app.state.container
    await db.execute(
        harness_url(harness), "UPDATE qpay_intents SET next_check_at = now()"
    )
    await poll_due_intents(
        "test",
        uow=container.uow,
        gateway=container.gateway,
        clock=container.clock,
        policy=PollPolicy(3, 60),
        budget=10,
    )


@pytest.mark.parametrize(
    ("raw_amount", "payment_id", "reason"),
    [
        ("0", None, "above 0"),
        ("0.001", None, "more than 2 decimals"),
        ("1000000000000000.00", None, "must not exceed"),
        ("15000.00", "9" * 200, "longer than 64"),
    ],
    ids=["zero", "three-decimals", "out-of-range", "long-id"],
)
async def test_unrecordable_paid_row_sends_its_intent_to_review_and_frees_the_lease(
    harness: Harness, raw_amount: str, payment_id: str | None, reason: str
) -> None:
    invoice_id = await new_invoice(harness, "15000.00")
    intent = (await new_intent(harness, invoice_id))["intent"]
    other = (await new_intent(harness, await new_invoice(harness, "20.00")))["intent"]
    harness.simulator.set_callbacks(drop=True)
    harness.simulator.pay(
        intent["qpayInvoiceId"], raw_amount=raw_amount, payment_id=payment_id
    )
    harness.simulator.pay(other["qpayInvoiceId"])

    await poll(harness)

    row = await intent_row(harness, intent["id"])
    assert row["status"] == "NEEDS_REVIEW"
    assert reason in row["last_error"]
    assert (await intent_row(harness, other["id"]))["status"] == "PAID"
    leases = await db.scalar(
        harness_url(harness),
        "SELECT count(*) FROM qpay_intents WHERE lease_owner IS NOT NULL",
    )
    assert leases == 0
    assert await db.scalar(harness_url(harness), "SELECT count(*) FROM payments") == 1


async def test_raw_check_answer_is_kept_for_audit_with_qpays_numbers(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness, "15000.10")
    intent = (await new_intent(harness, invoice_id))["intent"]
    harness.simulator.set_callbacks(drop=True)
    harness.simulator.pay(intent["qpayInvoiceId"])

    await harness.gql(CHECK, {"id": intent["id"]})

    paid_amount = await db.scalar(
        harness_url(harness),
        "SELECT raw #>> '{payment_check,pages,0,paid_amount}' FROM qpay_intents",
    )
    assert paid_amount == "15000.1"


async def test_money_in_another_currency_is_recorded_for_review_not_counted(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness, "15000.00")
    intent = (await new_intent(harness, invoice_id))["intent"]
    harness.simulator.set_callbacks(drop=True)
    harness.simulator.pay(intent["qpayInvoiceId"], Decimal("10.00"), currency="USD")

    body = await harness.gql(CHECK, {"id": intent["id"]})

    checked = body["data"]["checkQPayPayment"]["intent"]
    assert checked["status"] == "NEEDS_REVIEW"
    assert checked["paidAmount"] == "0.00"
    invoice = (await harness.gql(INVOICE, {"id": invoice_id}))["data"]["invoice"]
    assert invoice["paidAmount"] == "0.00"
    rows = await db.fetch(harness_url(harness), "SELECT amount, currency FROM payments")
    assert [(Decimal(str(r[0])), r[1]) for r in rows] == [(Decimal("10.00"), "USD")]
