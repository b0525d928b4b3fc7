"""The paymentEvents feed's follower over fakes: each entry once, none from
before it started, and entries committed late with lower ids still sent."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain.history import HistoryEntry, PaymentEventKind
from domain.invoices import InvoiceId
from domain.services.follow_history import BATCH, WINDOW, HistoryFollower
from tests.factories import make_invoice
from tests.unit.services.conftest import World

pytestmark = pytest.mark.anyio
AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def entry(entry_id: int, invoice_id: InvoiceId) -> HistoryEntry:
    return HistoryEntry(entry_id, invoice_id, PaymentEventKind.PAYMENT_RECORDED, AT)


@pytest.fixture
def invoice_id(world: World) -> InvoiceId:
    invoice = make_invoice(number=f"F-{uuid4().hex[:8]}")
    world.store.invoices[invoice.id] = invoice
    return invoice.id


async def ids_read(follower: HistoryFollower, world: World) -> list[int]:
    return [e.id for e, _invoice in await follower.read(uow=world.uow)]


async def test_nothing_from_before_the_start_and_each_new_entry_once(
    world: World, invoice_id: InvoiceId
) -> None:
    world.store.history.extend(entry(n, invoice_id) for n in (1, 2, 3))
    follower = await HistoryFollower.start(uow=world.uow)

    nothing = await ids_read(follower, world)
    world.store.history.extend(entry(n, invoice_id) for n in (4, 5))
    first = await ids_read(follower, world)
    again = await ids_read(follower, world)

    assert (nothing, first, again) == ([], [4, 5], [])


async def test_an_entry_committed_late_with_a_lower_id_is_still_sent(
    world: World, invoice_id: InvoiceId
) -> None:
    world.store.history.append(entry(10, invoice_id))
    follower = await HistoryFollower.start(uow=world.uow)
    world.store.history.append(entry(12, invoice_id))
    first = await ids_read(follower, world)

    world.store.history.append(entry(11, invoice_id))  # its transaction was slower
    late = await ids_read(follower, world)

    assert (first, late) == ([12], [11])


async def test_a_follower_far_behind_reads_in_batches_and_forgets_old_ids(
    world: World, invoice_id: InvoiceId
) -> None:
    follower = await HistoryFollower.start(uow=world.uow)
    count = WINDOW + 3 * BATCH
    world.store.history.extend(entry(n, invoice_id) for n in range(1, count + 1))

    batches = []
    while True:
        read = await follower.read(uow=world.uow)
        batches.append(len(read))
        if not follower.more_to_read(read):
            break

    assert sum(batches) == count and max(batches) == BATCH
    assert len(follower.seen) <= WINDOW


def test_without_a_gap_a_read_starts_at_the_cursor_and_a_gap_reads_again() -> None:
    cursor = 10 * WINDOW
    window = set(range(cursor - WINDOW + 1, cursor + 1))

    whole = HistoryFollower(cursor=cursor, seen=window)
    gap = HistoryFollower(cursor=cursor, seen=window - {cursor - 7})

    assert whole._low() == cursor  # only what is new
    assert gap._low() == cursor - 8  # from just below the unseen id
