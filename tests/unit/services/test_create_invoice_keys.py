"""createInvoice with an idempotency key, over fakes (issue 15, item 6)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from domain.errors import DomainError, ErrorCode, Subject
from domain.services.create_invoice import CreateInvoice, create_invoice
from tests.unit.services.conftest import World

pytestmark = pytest.mark.anyio


def bill(key: str | None, total: str = "15000.00", **extra: str) -> CreateInvoice:
    return CreateInvoice(total=Decimal(total), idempotency_key=key, **extra)


async def test_the_same_key_and_input_answer_the_first_invoice(world: World) -> None:
    first = await create_invoice(bill("k-1"), uow=world.uow, clock=world.clock)
    again = await create_invoice(bill("k-1"), uow=world.uow, clock=world.clock)

    assert again == first
    assert list(world.store.invoices) == [first.id]


async def test_the_same_key_with_another_input_is_a_conflict_and_writes_nothing(
    world: World,
) -> None:
    first = await create_invoice(bill("k-1"), uow=world.uow, clock=world.clock)

    with pytest.raises(DomainError) as refused:
        await create_invoice(bill("k-1", "9.00"), uow=world.uow, clock=world.clock)

    assert refused.value.code is ErrorCode.IDEMPOTENCY_CONFLICT
    assert refused.value.subject is Subject.IDEMPOTENCY_KEY
    assert list(world.store.invoices) == [first.id]


async def test_without_a_key_each_request_makes_a_bill(world: World) -> None:
    await create_invoice(bill(None), uow=world.uow, clock=world.clock)
    await create_invoice(bill(None), uow=world.uow, clock=world.clock)

    assert len(world.store.invoices) == 2


async def test_racing_requests_with_one_key_make_one_bill(world: World) -> None:
    made = await asyncio.gather(
        *(
            create_invoice(bill("k-2", number="A-7"), uow=world.uow, clock=world.clock)
            for _ in range(5)
        )
    )

    assert {invoice.id for invoice in made} == set(world.store.invoices)
    assert len(world.store.invoices) == 1


async def test_a_blank_or_oversized_key_is_refused_naming_the_key(
    world: World,
) -> None:
    for key in ("   ", "k" * 256):
        with pytest.raises(DomainError) as refused:
            await create_invoice(bill(key), uow=world.uow, clock=world.clock)
        assert refused.value.subject is Subject.IDEMPOTENCY_KEY
    assert world.store.invoices == {}
