"""paymentStatus with pushed states (issue 18): the settlement's notification
carries the intent's state, and the subscription sends it without reading
the database again; a bare wake-up still re-reads. Over the fakes: the
resolver, the fake unit of work and the real EventHub."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
import strawberry

from domain.intents import IntentId
from domain.ports import UnitOfWork
from domain.services.settle_qpay_intent import settle_qpay_intent
from domain.services.watch_payment_status import read_payment_status
from graph.context import Services, Viewer
from graph.subscriptions.payment_status import (
    PaymentStatusEvent,
    follow_payment_status,
)
from persistence.event_hub import EventHub
from tests.unit.services.conftest import World, make_world

pytestmark = pytest.mark.anyio


class Watching:
    """A staff subscription to one intent, counting its database reads."""

    def __init__(self, world: World, hub: EventHub) -> None:
        self.reads = 0

        def counted() -> UnitOfWork:
            self.reads += 1
            return world.uow()

        services = Services(
            uow=world.uow,
            read_uow=counted,
            gateway=world.gateway,
            clock=world.clock,
            qpay_policy=world.policy,
            hub=hub,
            poll_interval_seconds=3.0,
        )
        viewer = Viewer("staff-1", "staff", world.clock.now() + timedelta(hours=1))
        self.info = cast(
            Any,
            SimpleNamespace(context=SimpleNamespace(services=services, viewer=viewer)),
        )

    def follow(self, intent_id: IntentId) -> AsyncGenerator[PaymentStatusEvent, None]:
        return follow_payment_status(self.info, strawberry.ID(str(intent_id)))


async def an_intent(world: World) -> tuple[IntentId, str]:
    intent = await world.new_intent()
    return intent.id, str(intent.qpay_invoice_id)


async def test_a_settlement_is_pushed_with_its_state_and_sent_without_a_re_read() -> (
    None
):
    world = make_world()
    hub = EventHub()
    world.store.hub = hub
    intent_id, qpay_id = await an_intent(world)
    watching = Watching(world, hub)
    events = watching.follow(intent_id)

    snapshot = await anext(events)
    world.gateway.pay(qpay_id)
    await settle_qpay_intent(
        intent_id, uow=world.uow, gateway=world.gateway, clock=world.clock
    )
    async with asyncio.timeout(10):
        paid = await anext(events)

    assert watching.reads == 1  # the snapshot's only
    assert paid.intent.status.value == "PAID" and paid.settled
    assert paid.version == snapshot.version + 1
    # What a re-read would have sent, QR code and links included.
    fresh = await read_payment_status(intent_id, uow=world.uow)
    assert fresh is not None
    assert paid == PaymentStatusEvent.from_status(fresh)
    assert paid.intent.qr_image == snapshot.intent.qr_image != ""
    await events.aclose()


async def test_a_bare_wake_up_is_still_answered_with_a_re_read() -> None:
    world = make_world()
    hub = EventHub()
    intent_id, qpay_id = await an_intent(world)
    watching = Watching(world, hub)
    events = watching.follow(intent_id)

    snapshot = await anext(events)
    world.gateway.pay(qpay_id)
    # Settled with no hub attached: nobody hears it, then a bare version
    # (a watch keeper's, or another transport's) wakes the subscription.
    await settle_qpay_intent(
        intent_id, uow=world.uow, gateway=world.gateway, clock=world.clock
    )
    hub.deliver(intent_id, snapshot.version + 1)
    async with asyncio.timeout(10):
        paid = await anext(events)

    assert watching.reads == 2
    assert paid.intent.status.value == "PAID"
    await events.aclose()
