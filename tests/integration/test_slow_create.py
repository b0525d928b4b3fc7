"""One payable QR per bill even when a QPay create outlasts the creation wait
(issue 12, part 3): the late request withdraws its QR at QPay and answers
QPAY_UNAVAILABLE, never the QR of a closed intent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import replace
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from domain.errors import DomainError, ErrorCode
from domain.invoices import InvoiceId
from domain.services.create_qpay_invoice import (
    CreateQPayInvoice,
    QPayInvoiceCreated,
    create_qpay_invoice,
)
from qpay.client import longest_call_seconds
from tests import db
from tests.gql import CHECK
from tests.harness import Harness
from tests.integration.gql import allow_check_now, new_invoice
from tests.integration.test_payments_http import harness_url

pytestmark = [pytest.mark.db, pytest.mark.anyio]


def creator(
    harness: Harness, invoice_id: str
) -> Callable[[], Coroutine[Any, Any, object]]:
    """createQPayInvoice's use case with a 0.3 s creation wait; it returns
    the created intent or the DomainError raised."""
    container = harness.app.state.container
    policy = replace(container.qpay_policy, creation_wait_seconds=0.3)

    async def create() -> object:
        try:
            return await create_qpay_invoice(
                CreateQPayInvoice(InvoiceId(UUID(invoice_id))),
                uow=container.uow,
                gateway=container.gateway,
                clock=container.clock,
                policy=policy,
            )
        except DomainError as error:
            return error

    return create


async def test_late_qpay_answer_is_withdrawn_and_one_qr_stays_payable(
    harness: Harness,
) -> None:
    create = creator(harness, await new_invoice(harness, "15000.00"))
    harness.simulator.delay_next("/invoice", 1.0, method="POST")

    slow = asyncio.create_task(create())
    await asyncio.sleep(0.5)  # past the creation wait: the placeholder is abandoned
    second = await create()
    late = await slow

    assert isinstance(late, DomainError) and late.code is ErrorCode.QPAY_UNAVAILABLE
    assert isinstance(second, QPayInvoiceCreated)
    open_at_qpay = [
        i for i in harness.simulator.state.invoices.values() if i.status == "OPEN"
    ]
    assert len(harness.simulator.state.invoices) == 2
    assert [i.invoice_id for i in open_at_qpay] == [second.intent.qpay_invoice_id]
    rows = await db.fetch(
        harness_url(harness),
        "SELECT status, qpay_invoice_id FROM qpay_intents ORDER BY created_at",
    )
    assert [r["status"] for r in rows] == ["CANCELLED", "PENDING"]
    assert all(r["qpay_invoice_id"] for r in rows)


async def test_money_paid_on_a_withdrawn_qr_is_still_recorded(
    harness: Harness,
) -> None:
    create = creator(harness, await new_invoice(harness, "15000.00"))
    harness.simulator.delay_next("/invoice", 1.0, method="POST")
    # The patient pays the withdrawn QR just before QPay cancels it.
    harness.simulator.fail_next("/invoice/*", status=500, method="DELETE")
    slow = asyncio.create_task(create())
    await asyncio.sleep(0.5)
    await create()
    assert isinstance(await slow, DomainError)
    withdrawn = await db.fetch(
        harness_url(harness),
        "SELECT id::text, qpay_invoice_id FROM qpay_intents WHERE status = 'CANCELLED'",
    )
    (intent_id, qpay_invoice_id) = withdrawn[0]
    harness.simulator.set_callbacks(drop=True)
    harness.simulator.pay(qpay_invoice_id, force=True)
    await allow_check_now(harness, intent_id)

    body = await harness.gql(CHECK, {"id": intent_id})

    checked = body["data"]["checkQPayPayment"]["intent"]
    assert checked["status"] == "NEEDS_REVIEW"
    assert checked["paidAmount"] == "15000.00"
    paid = await db.scalar(harness_url(harness), "SELECT sum(amount) FROM payments")
    assert paid == Decimal("15000.00")


def test_creation_wait_covers_the_longest_create_with_its_token_work() -> None:
    # refresh + login + create + re-login + replay, each up to pool + connect
    # + read: the default timeouts (5 s, 10 s) give 100 s.
    assert longest_call_seconds(5, 10) == 100
