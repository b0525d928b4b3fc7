"""Pushed states on PostgreSQL (issue 18): a payment's settlement notifies its
subscribers with the intent's state, signed, and that state is exactly what a
re-read of the committed rows gives. Through the app in process, QPay's
callback, the real unit of work and each transport."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest

from domain.ebarimt import EbarimtReceiverType, EbarimtRequest
from domain.intents import IntentId
from domain.services.watch_payment_status import read_payment_status
from domain.status import PushedStatus
from persistence.event_hub import EventHub
from tests.conftest import SettingsFactory
from tests.harness import running_app
from tests.integration.gql import new_intent, new_invoice
from tests.machine import SHARED_REDIS, redis_reachable

pytestmark = [pytest.mark.db, pytest.mark.anyio]


async def pushed_state(hub: EventHub, intent_id: IntentId) -> PushedStatus:
    """The first state pushed for `intent_id`, skipping bare wake-ups."""
    with hub.subscribe(intent_id) as wakeups:
        while True:
            wakeup = await wakeups.get()
            if isinstance(wakeup, PushedStatus):
                return wakeup


@pytest.mark.parametrize(
    "events_url",
    [
        "postgres",
        "memory://",
        pytest.param(
            SHARED_REDIS,
            marks=pytest.mark.skipif(
                not redis_reachable(), reason="no Redis on 127.0.0.1:6379"
            ),
            id="redis",
        ),
    ],
)
@pytest.mark.parametrize("receipt", [False, True], ids=["no receipt", "receipt"])
async def test_a_settlement_pushes_the_state_a_re_read_gives(
    clean_db: str, make_settings: SettingsFactory, events_url: str, receipt: bool
) -> None:
    settings = make_settings(database_url=clean_db, events_url=events_url)
    async with running_app(settings) as harness:
        container = harness.app.state.container
        async with asyncio.timeout(10):
            await container.hub.connected.wait()
        extra = {"ebarimt": {"receiverType": "CITIZEN"}} if receipt else {}
        created = await new_intent(harness, await new_invoice(harness), **extra)
        intent_id = IntentId(UUID(created["intent"]["id"]))

        heard = asyncio.create_task(pushed_state(container.hub, intent_id))
        await asyncio.sleep(0)  # subscribed before the payment
        harness.simulator.pay(created["intent"]["qpayInvoiceId"])
        async with asyncio.timeout(10):
            pushed = await heard
        fresh = await read_payment_status(intent_id, uow=container.uow)

    assert fresh is not None
    assert pushed.status.intent.status.value == "PAID"
    assert pushed == PushedStatus.of(fresh)
    assert pushed.over(fresh) == fresh
    assert pushed.status.receipt_pending is receipt
    if receipt:
        assert pushed.status.intent.ebarimt == EbarimtRequest(
            EbarimtReceiverType.CITIZEN, None
        )
