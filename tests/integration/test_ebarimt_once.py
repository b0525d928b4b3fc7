"""e-Barimt at most once against the QPay simulator and real PostgreSQL: a
create whose answer was lost after QPay made the receipt is never simply sent
again (issue 12, part 5; reproduced before as two receipts for one payment)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from domain.qpay_messages import IssuedReceipt
from domain.services.issue_ebarimt import ReceiptPolicy, issue_due_receipts
from tests import db
from tests.conftest import SettingsFactory
from tests.gql import CHECK
from tests.harness import Harness, running_app
from tests.integration.gql import new_intent, new_invoice

pytestmark = [pytest.mark.db, pytest.mark.anyio]

CITIZEN = {"receiverType": "CITIZEN", "receiver": "99112233"}


@pytest.fixture(params=["v2", "v3"])
async def family(
    request: pytest.FixtureRequest, clean_db: str, make_settings: SettingsFactory
) -> AsyncIterator[tuple[str, Harness]]:
    settings = make_settings(database_url=clean_db, qpay_ebarimt_api=request.param)
    async with running_app(settings) as harness:
        yield request.param, harness


async def paid_payment(harness: Harness) -> str:
    invoice_id = await new_invoice(harness, "15000.00")
    intent = (await new_intent(harness, invoice_id, ebarimt=CITIZEN))["intent"]
    harness.simulator.set_callbacks(drop=True)
    payment_id = harness.simulator.pay(intent["qpayInvoiceId"])
    await harness.gql(CHECK, {"id": intent["id"]})
    return payment_id


async def run_worker(harness: Harness) -> None:
    container = harness.app.state.container
    await issue_due_receipts(
        "worker",
        uow=container.uow,
        gateway=container.gateway,
        clock=container.clock,
        policy=ReceiptPolicy(base_delay=0.001),
    )


async def test_a_create_answered_502_after_qpay_made_the_receipt_is_not_repeated(
    family: tuple[str, Harness],
) -> None:
    api, harness = family
    payment_id = await paid_payment(harness)
    path = "/ebarimt/create" if api == "v2" else "/ebarimt_v3/create"
    harness.simulator.fail_next(path, status=502, after=True)
    await run_worker(harness)

    for _ in range(3):
        await db.execute(
            harness.app.state.container.settings.database_url,
            "UPDATE ebarimt_receipts SET next_attempt_at = now()",
        )
        await run_worker(harness)

    registered = harness.simulator.registered_receipts(payment_id)
    stored = await db.fetch(
        harness.app.state.container.settings.database_url,
        "SELECT status, lottery, last_error FROM ebarimt_receipts",
    )
    assert len(registered) <= 1
    if api == "v3":
        # What QPay held was found, cancelled, and one receipt issued.
        assert len(registered) == 1
        assert stored[0]["status"] == "ISSUED"
        assert stored[0]["lottery"] == registered[0].lottery
    else:
        # v2 cannot look a receipt up by payment: a person decides.
        assert len(registered) == 1
        assert stored[0]["status"] == "FAILED"
        assert "may have reached QPay" in stored[0]["last_error"]


async def test_a_worker_whose_lease_was_taken_over_cannot_mark_the_receipt(
    harness: Harness,
) -> None:
    await paid_payment(harness)
    container = harness.app.state.container
    environment = container.gateway.environment
    async with container.uow() as tx:
        (stale,) = await tx.receipts.claim_due(10, 0.01, environment, "worker-a")
        await tx.commit()
    await asyncio.sleep(0.05)  # worker-a stalls past its lease
    async with container.uow() as tx:
        (taken,) = await tx.receipts.claim_due(10, 60, environment, "worker-b")
        await tx.commit()

    async with container.uow() as tx:
        late = await tx.receipts.mark_issued(
            stale.id,
            IssuedReceipt("r-1", "AB 12345678", "QR"),
            owner="worker-a",
            now=container.clock.now(),
        )
        await tx.commit()

    assert taken.id == stale.id
    assert late.applied is False
    status = await db.scalar(
        container.settings.database_url, "SELECT status FROM ebarimt_receipts"
    )
    assert status == "PENDING"


async def test_a_refund_returns_the_issued_receipt_at_qpay(
    family: tuple[str, Harness],
) -> None:
    api, harness = family
    qpay_payment_id = await paid_payment(harness)
    await run_worker(harness)
    assert len(harness.simulator.registered_receipts(qpay_payment_id)) == 1
    harness.simulator.state.payments[qpay_payment_id].payment_type = "CARD"
    body = await harness.gql(
        "query { invoices(first: 1) { edges { node { payments { id } } } } }"
    )
    (payment,) = body["data"]["invoices"]["edges"][0]["node"]["payments"]

    refunded = await harness.gql(
        """mutation($input: RefundPaymentInput!) {
          refundPayment(input: $input) {
            refund { status } payment { ebarimt { status } } errors { code }
          }
        }""",
        {
            "input": {
                "paymentId": payment["id"],
                "reason": "returned",
                "idempotencyKey": f"receipt-{api}",
            }
        },
    )
    await run_worker(harness)

    payload = refunded["data"]["refundPayment"]
    assert payload["refund"]["status"] == "COMPLETED"
    assert payload["payment"]["ebarimt"]["status"] == "VOIDING"
    url = harness.app.state.container.settings.database_url
    row = await db.fetch(url, "SELECT status, last_error FROM ebarimt_receipts")
    # Cancelled at QPay: by payment id (e-Barimt 3.0) or by its own id (v2).
    assert row[0]["status"] == "VOIDED", row
    assert harness.simulator.registered_receipts(qpay_payment_id) == []
