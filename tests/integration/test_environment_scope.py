"""After a switch of QPAY_ENV, intents of the other environment are never
asked about at the new QPay: every query and QPay-calling use case is scoped
by environment (issue 12, part 6)."""

from __future__ import annotations

import pytest

from domain.services.poll_due_intents import PollPolicy, poll_due_intents
from tests import db
from tests.gql import CANCEL, CHECK
from tests.harness import Harness
from tests.integration.gql import new_intent, new_invoice, qpay_calls
from tests.integration.test_payments_http import harness_url

pytestmark = [pytest.mark.db, pytest.mark.anyio]


async def sandbox_intent(harness: Harness) -> tuple[str, dict[str, str]]:
    """An intent made while the service ran against the QPay sandbox."""
    invoice_id = await new_invoice(harness, "15000.00")
    intent = (await new_intent(harness, invoice_id))["intent"]
    await db.execute(
        harness_url(harness),
        "UPDATE qpay_intents SET environment = 'SANDBOX', next_check_at = now() "
        "WHERE id = $1::uuid",
        intent["id"],
    )
    return invoice_id, intent


async def test_poller_leaves_intents_of_another_environment_alone(
    harness: Harness,
) -> None:
    await sandbox_intent(harness)
    container = harness.app.state.container
    checks_before = qpay_calls(harness, "/v2/payment/check")

    result = await poll_due_intents(
        "test",
        uow=container.uow,
        gateway=container.gateway,
        clock=container.clock,
        policy=PollPolicy(3, 60),
        budget=10,
    )

    assert result.claimed == 0
    assert qpay_calls(harness, "/v2/payment/check") == checks_before


@pytest.mark.parametrize("document", [CHECK, CANCEL], ids=["check", "cancel"])
async def test_mutations_refuse_an_intent_of_another_environment(
    harness: Harness, document: str
) -> None:
    _, intent = await sandbox_intent(harness)
    calls_before = len(harness.simulator.requests)

    body = await harness.gql(document, {"id": intent["id"]})

    (payload,) = body["data"].values()
    (error,) = payload["errors"]
    assert error["code"] == "INVALID_INPUT"
    assert len(harness.simulator.requests) == calls_before


async def test_create_makes_a_new_intent_rather_than_reuse_another_environments(
    harness: Harness,
) -> None:
    invoice_id, old = await sandbox_intent(harness)

    created = await new_intent(harness, invoice_id)

    assert created["errors"] == []
    assert created["intent"]["id"] != old["id"]
    assert created["intent"]["environment"] == "MOCK"
