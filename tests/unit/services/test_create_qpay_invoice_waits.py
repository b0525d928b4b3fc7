"""createQPayInvoice when two requests race for one bill: the second waits
for the first's commit (woken by it, not polling), and one QPay invoice is
made (issue 12, parts 3 and 7)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from domain.ports import UnitOfWork
from domain.qpay_messages import CreatedInvoice, InvoiceRequest
from domain.services.create_invoice import CreateInvoice, create_invoice
from domain.services.create_qpay_invoice import (
    CreateQPayInvoice,
    QPayInvoiceCreated,
    create_qpay_invoice,
)
from persistence.event_hub import EventHub
from tests.fakes.uow import FakeUnitOfWork
from tests.unit.services.conftest import World

pytestmark = pytest.mark.anyio


async def test_waiting_request_is_woken_by_the_first_ones_commit_not_by_polling(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.store.hub = EventHub()
    invoice = await create_invoice(
        CreateInvoice(total=Decimal("15000.00")), uow=world.uow, clock=world.clock
    )
    at_qpay, answer = asyncio.Event(), asyncio.Event()
    create = world.gateway.create_invoice

    async def slow_create(request: InvoiceRequest) -> CreatedInvoice:
        at_qpay.set()
        await answer.wait()
        return await create(request)

    monkeypatch.setattr(world.gateway, "create_invoice", slow_create)
    reads = 0

    def counting_uow() -> UnitOfWork:
        nonlocal reads
        reads += 1
        return FakeUnitOfWork(world.store)

    async def request(uow: object) -> QPayInvoiceCreated:
        return await create_qpay_invoice(
            CreateQPayInvoice(invoice.id),
            uow=uow,  # type: ignore[arg-type]  # a UnitOfWorkFactory
            gateway=world.gateway,
            clock=world.clock,
            policy=world.policy,
            changes=world.store.hub,
        )

    first = asyncio.create_task(request(world.uow))
    await at_qpay.wait()
    second = asyncio.create_task(request(counting_uow))
    for _ in range(20):  # let the second register and start waiting
        await asyncio.sleep(0)
    answer.set()
    made, reused = await asyncio.gather(first, second)

    assert reused.reused and reused.intent.id == made.intent.id
    assert world.gateway.calls.count("create_invoice") == 1
    # Read on arrival, once more after registering, once when woken: no loop.
    assert reads == 3
