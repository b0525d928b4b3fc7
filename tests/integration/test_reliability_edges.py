"""Scenarios of reference/payment-reliability.md §7 not covered elsewhere:
a genuine callback for an unpaid invoice, and the unique constraint as the
last line of defence."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest

from tests import db
from tests.harness import Harness
from tests.integration.gql import new_intent, new_invoice
from tests.integration.test_payments_http import harness_url

pytestmark = [pytest.mark.db, pytest.mark.anyio]


async def test_callback_for_an_unpaid_invoice_changes_nothing_when_spoofed(
    harness: Harness,
) -> None:
    intent = (await new_intent(harness, await new_invoice(harness)))["intent"]
    callback_url = harness.simulator.state.invoices[
        intent["qpayInvoiceId"]
    ].callback_url
    token = parse_qs(urlsplit(callback_url).query)["token"][0]

    response = await harness.client.get(
        f"/qpay/callback/{intent['id']}",
        params={"token": token, "qpay_payment_id": "999999999999999"},
    )
    await asyncio.sleep(0.3)  # the settlement runs in the background

    url = harness_url(harness)
    assert response.status_code == 200 and response.text == "SUCCESS"
    assert await db.scalar(url, "SELECT status FROM qpay_intents") == "PENDING"
    assert await db.scalar(url, "SELECT count(*) FROM payments") == 0
    stored = await db.fetch(url, "SELECT qpay_payment_id, query FROM qpay_callbacks")
    assert stored[0]["qpay_payment_id"] == "999999999999999"
    assert "token" not in stored[0]["query"]


async def test_a_second_payment_row_for_one_qpay_id_is_refused_when_inserted_directly(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness)
    url = harness_url(harness)
    insert = (
        "INSERT INTO payments (id, invoice_id, method, amount, qpay_txn_id) "
        "VALUES (gen_random_uuid(), $1::uuid, 'QPAY', 10.00, 'QPAY-1')"
    )
    await db.execute(url, insert, invoice_id)

    with pytest.raises(asyncpg.UniqueViolationError):
        await db.execute(url, insert, invoice_id)

    assert await db.scalar(url, "SELECT count(*) FROM payments") == 1
