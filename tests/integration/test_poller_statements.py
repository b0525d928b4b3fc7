"""What the poller's check of an intent costs the database.

A checkout screen mostly waits: the poller asks QPay about its unpaid intent
every few seconds all day (design.md §6). Such a check may send nothing
beyond its claim and its release: the claim already says what QPay is asked
about, and an answer with nothing paid changes nothing to read or write.
"""

from __future__ import annotations

import pytest

from domain.services.poll_due_intents import PollPolicy, poll_due_intents
from tests import db
from tests.harness import Harness
from tests.integration.gql import intent_row, new_intent, new_invoice, qpay_calls
from tests.integration.test_pages_http import statements
from tests.integration.test_payments_http import harness_url

pytestmark = [pytest.mark.db, pytest.mark.anyio]


async def due_intent(harness: Harness) -> dict[str, str]:
    invoice_id = await new_invoice(harness, "15000.00")
    intent: dict[str, str] = (await new_intent(harness, invoice_id))["intent"]
    await db.execute(
        harness_url(harness),
        "UPDATE qpay_intents SET next_check_at = now() - interval '1 second' "
        "WHERE id = $1::uuid",
        intent["id"],
    )
    return intent


async def poll_once(harness: Harness) -> int:
    container = harness.app.state.container
    result = await poll_due_intents(
        "test",
        uow=container.uow,
        single=container.autocommit_uow,
        gateway=container.gateway,
        clock=container.clock,
        policy=PollPolicy(3, 60),
        budget=10,
    )
    return result.claimed


async def test_a_check_that_finds_nothing_paid_sends_only_its_claim_and_release(
    harness: Harness,
) -> None:
    intent = await due_intent(harness)
    checks_before = qpay_calls(harness, "/v2/payment/check")

    with statements(harness) as seen:
        claimed = await poll_once(harness)

    assert claimed == 1
    assert qpay_calls(harness, "/v2/payment/check") == checks_before + 1
    sent = [" ".join(sql.split()) for sql, _ in seen]
    assert len(sent) == 2, sent
    claim, release = sent
    assert claim.startswith("WITH due AS ( SELECT id")
    assert release.startswith("UPDATE qpay_intents SET")
    assert "lease_owner" in release
    assert (await intent_row(harness, intent["id"]))["status"] == "PENDING"
    assert await lease_owner(harness, intent["id"]) is None  # due again later


async def lease_owner(harness: Harness, intent_id: str) -> str | None:
    rows = await db.fetch(
        harness_url(harness),
        "SELECT lease_owner FROM qpay_intents WHERE id = $1::uuid",
        intent_id,
    )
    owner: str | None = rows[0]["lease_owner"]
    return owner


async def test_a_check_that_finds_money_settles_it_from_what_the_claim_said(
    harness: Harness,
) -> None:
    intent = await due_intent(harness)
    harness.simulator.set_callbacks(drop=True)  # the poller finds it
    harness.simulator.pay(intent["qpayInvoiceId"])

    with statements(harness) as seen:
        claimed = await poll_once(harness)

    assert claimed == 1
    assert (await intent_row(harness, intent["id"]))["status"] == "PAID"
    assert await lease_owner(harness, intent["id"]) is None
    # The intent is read once, locked, in the settling transaction: not
    # before QPay is asked.
    reads = [sql for sql, _ in seen if sql.lstrip().upper().startswith("SELECT")]
    assert all("FOR UPDATE" in sql for sql in reads), reads
