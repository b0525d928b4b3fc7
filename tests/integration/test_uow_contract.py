"""One contract for both units of work (issue 12, part 8): every test runs
against the FakeUnitOfWork the use-case tests use and against
SqlAlchemyUnitOfWork on PostgreSQL, through the UnitOfWorkFactory port only,
so the fake cannot drift from the SQL.

Time: the fake's FixedClock is advanced; PostgreSQL's now() is its own clock,
so leases and delays the tests wait out are SHORT real ones and waiting is a
real sleep past them, between transactions. A LONG lease or delay holds for
the whole test. No test measures how long anything took.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.ebarimt import EbarimtReceipt, EbarimtReceiverType, EbarimtStatus
from domain.events import (
    HISTORY_TOPIC,
    IntentChanged,
    PaymentRecorded,
    ReceiptChanged,
)
from domain.idempotency import IdempotencyRecord
from domain.intents import IntentId, IntentStatus, QPayIntent
from domain.invoices import Invoice, InvoiceId, InvoiceStatus
from domain.ledger import LedgerFlag, LedgerFlagKind, SweepClaim
from domain.pages import ListFilter, Position
from domain.payments import Payment, PaymentId, PaymentMethod
from domain.ports import (
    DueReceipt,
    DuplicateQPayPayment,
    TransactionAborted,
    UnitOfWork,
    UnitOfWorkFactory,
)
from domain.qpay_messages import IssuedReceipt, QPayEnvironment
from domain.refunds import Refund, RefundChannel, RefundId, RefundStatus
from domain.status import PaymentStatus
from persistence.engine import make_engine
from persistence.event_hub import NO_STATES
from persistence.sql import Pending
from persistence.unit_of_work import (
    AnnouncedStates,
    IntentChange,
    SqlAlchemyUnitOfWork,
)
from tests import db
from tests.factories import make_intent, make_invoice
from tests.fakes.clock import FixedClock
from tests.fakes.uow import FakeStore, FakeUnitOfWork

pytestmark = pytest.mark.anyio

SHORT = 0.05  # seconds: a lease or delay a test waits out
PAST_SHORT = 2 * SHORT  # how long a test waits to be past one
LONG = 600.0  # seconds: holds for the whole test
MOCK, LIVE = QPayEnvironment.MOCK, QPayEnvironment.LIVE
HOUR = timedelta(hours=1)


@dataclass
class Backend:
    """What the contract needs from an implementation besides the port."""

    uow: UnitOfWorkFactory
    # Let at least this many seconds pass on the backend's clock.
    pass_time: Callable[[float], Awaitable[None]]
    # About the backend's time, for timestamps the rows carry.
    now: Callable[[], datetime]
    # Whether a transaction is waiting for another's row lock right now.
    lock_waited: Callable[[], Awaitable[bool]]
    # The (intent, version) pairs announced to subscribers so far.
    announced: Callable[[], list[tuple[IntentId, int]]]
    # The states that went with them (UnitOfWork.announce).
    pushed: Callable[[], list[PaymentStatus]]

    async def until_a_transaction_waits(self) -> None:
        for _ in range(500):
            if await self.lock_waited():
                return
            await asyncio.sleep(0.01)
        pytest.fail("no transaction waited for a row lock")


@pytest.fixture
def fake() -> Backend:
    clock = FixedClock()
    store = FakeStore(clock=clock)

    async def pass_time(seconds: float) -> None:
        clock.advance(seconds)

    async def lock_waited() -> bool:
        return store.lock_waits > 0

    return Backend(
        lambda: FakeUnitOfWork(store),
        pass_time,
        clock.now,
        lock_waited,
        lambda: list(store.notified),
        lambda: list(store.pushed),
    )


class RecordingPublisher:
    """The SQL unit of work's publisher, remembering what it announced."""

    def __init__(self) -> None:
        self.announced: list[tuple[IntentId, int]] = []
        self.pushed: list[PaymentStatus] = []

    async def in_transaction(
        self,
        connection: AsyncConnection,
        changes: Sequence[IntentChange],
        also: Pending | None = None,
        states: AnnouncedStates = NO_STATES,
    ) -> None:
        if also is not None:
            await connection.execute(*also)

    async def after_commit(
        self, changes: Sequence[IntentChange], states: AnnouncedStates = NO_STATES
    ) -> None:
        self.announced.extend(changes)
        self.pushed.extend(states.values())


@pytest.fixture
async def postgres(clean_db: str) -> AsyncIterator[Backend]:
    engine = make_engine(clean_db, pool_size=4, max_overflow=4)
    publisher = RecordingPublisher()

    async def pass_time(seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def lock_waited() -> bool:
        waiting = await db.scalar(
            clean_db,
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        return bool(waiting)

    try:
        yield Backend(
            lambda: SqlAlchemyUnitOfWork(engine, publisher),
            pass_time,
            lambda: datetime.now(UTC),
            lock_waited,
            lambda: list(publisher.announced),
            lambda: list(publisher.pushed),
        )
    finally:
        await engine.dispose()


@pytest.fixture(params=["fake", pytest.param("postgres", marks=pytest.mark.db)])
def backend(request: pytest.FixtureRequest) -> Backend:
    found: Backend = request.getfixturevalue(request.param)
    return found


# Rows, made through the ports.


async def new_invoice(tx: UnitOfWork) -> Invoice:
    invoice = make_invoice(number=f"C-{uuid4().hex[:12]}")
    await tx.invoices.add(invoice)
    return invoice


async def new_intents(
    backend: Backend, count: int = 1, **overrides: object
) -> list[QPayIntent]:
    """Committed intents of one invoice, due for a check at once."""
    values: dict[str, object] = {"expires_at": backend.now() + HOUR}
    values.update(overrides)
    async with backend.uow() as tx:
        invoice = await new_invoice(tx)
        made = [make_intent(invoice, **values) for _ in range(count)]
        for intent in made:
            await tx.intents.add(
                intent, client_secret_hash="c" * 64, callback_token_hash="t" * 64
            )
        await tx.commit()
    return made


def qpay_payment(intent: QPayIntent, qpay_payment_id: str | None = None) -> Payment:
    return Payment(
        id=PaymentId(uuid4()),
        invoice_id=intent.invoice_id,
        method=PaymentMethod.QPAY,
        amount=Decimal("100.00"),
        created_at=intent.created_at,
        qpay_payment_id=qpay_payment_id or f"P-{uuid4().hex[:12]}",
        intent_id=intent.id,
    )


def cash_payment(invoice: Invoice) -> Payment:
    return Payment(
        PaymentId(uuid4()),
        invoice.id,
        PaymentMethod.CASH,
        Decimal("1.00"),
        invoice.created_at,
    )


async def new_receipts(
    backend: Backend, count: int = 1, environment: QPayEnvironment = MOCK
) -> list[tuple[EbarimtReceipt, Payment, QPayIntent]]:
    """Committed PENDING receipts, each for a paid QPay payment of an intent."""
    made = []
    for intent in await new_intents(backend, count, environment=environment):
        payment = qpay_payment(intent)
        receipt = EbarimtReceipt(
            id=uuid4(),
            payment_id=payment.id,
            status=EbarimtStatus.PENDING,
            receiver_type=EbarimtReceiverType.CITIZEN,
            receiver=None,
            lottery=None,
            qr_data=None,
            last_error=None,
            attempts=0,
            created_at=intent.created_at,
        )
        async with backend.uow() as tx:
            await tx.payments.add(payment)
            await tx.receipts.add_pending(receipt, intent.id)
            await tx.commit()
        made.append((receipt, payment, intent))
    return made


async def claim_intents(
    backend: Backend,
    owner: str,
    lease: float = LONG,
    environment: QPayEnvironment = MOCK,
) -> list[IntentId]:
    async with backend.uow() as tx:
        due = await tx.schedule.claim_due(owner, 10, lease, environment)
        await tx.commit()
    return [item.intent_id for item in due]


async def release(
    backend: Backend, intent: QPayIntent, owner: str, delay: float
) -> None:
    async with backend.uow() as tx:
        await tx.schedule.release(intent.id, owner, delay)
        await tx.commit()


# 1. The poller's leases on intents.


async def test_claim_due_leases_only_due_created_pending_intents_of_the_environment(
    backend: Backend,
) -> None:
    (due,) = await new_intents(backend)
    (uncreated,) = await new_intents(backend, qpay_invoice_id=None)
    (paid,) = await new_intents(backend, status=IntentStatus.PAID)
    (live,) = await new_intents(backend, environment=LIVE)
    (later,) = await new_intents(backend)
    async with backend.uow() as tx:
        await tx.intents.record_qpay_invoice(later, raw={}, first_check_in=LONG)
        await tx.commit()

    async with backend.uow() as tx:
        claimed = await tx.schedule.claim_due("a", 10, LONG, MOCK)
        await tx.commit()

    (item,) = claimed
    assert item.intent_id == due.id
    assert (item.expired, item.watched, item.check_count) == (False, False, 1)
    assert item.lag_seconds >= 0
    assert await claim_intents(backend, "b", environment=LIVE) == [live.id]
    assert {uncreated.id, paid.id, later.id}.isdisjoint(
        await claim_intents(backend, "c")
    )


async def test_claim_due_takes_the_longest_due_first_up_to_the_limit(
    backend: Backend,
) -> None:
    (first,) = await new_intents(backend)
    await backend.pass_time(SHORT)
    (second,) = await new_intents(backend)

    async with backend.uow() as tx:
        claimed = await tx.schedule.claim_due("a", 1, LONG, MOCK)
        await tx.commit()

    assert [item.intent_id for item in claimed] == [first.id]
    assert await claim_intents(backend, "b") == [second.id]


async def test_claim_due_reports_expired_and_watched_intents(backend: Backend) -> None:
    (expired,) = await new_intents(backend, expires_at=backend.now() - HOUR)
    (watched,) = await new_intents(backend)
    async with backend.uow() as tx:
        await tx.intents.record_qpay_invoice(watched, raw={}, first_check_in=LONG)
        # Watching pulls the next check forward to the poll interval.
        marked = await tx.schedule.mark_watched([watched.id], LONG, 0)
        await tx.commit()

    async with backend.uow() as tx:
        claimed = {
            d.intent_id: d for d in await tx.schedule.claim_due("a", 10, LONG, MOCK)
        }

    assert marked == [(watched.id, watched.version)]
    assert (claimed[expired.id].expired, claimed[expired.id].watched) == (True, False)
    assert (claimed[watched.id].expired, claimed[watched.id].watched) == (False, True)


async def test_second_claim_gets_nothing_while_the_lease_holds(
    backend: Backend,
) -> None:
    (intent,) = await new_intents(backend)

    assert await claim_intents(backend, "a") == [intent.id]
    assert await claim_intents(backend, "b") == []


async def test_released_intent_is_due_again_only_once_its_delay_passed(
    backend: Backend,
) -> None:
    soon, late = await new_intents(backend, 2)
    await claim_intents(backend, "a")

    await release(backend, soon, "a", SHORT)
    await release(backend, late, "a", LONG)
    await backend.pass_time(PAST_SHORT)

    assert await claim_intents(backend, "b") == [soon.id]


async def test_lapsed_lease_is_claimed_by_another_owner_with_the_count_going_on(
    backend: Backend,
) -> None:
    (intent,) = await new_intents(backend)
    await claim_intents(backend, "a", lease=SHORT)

    await backend.pass_time(PAST_SHORT)

    async with backend.uow() as tx:
        (item,) = await tx.schedule.claim_due("b", 10, LONG, MOCK)
        await tx.commit()
    assert (item.intent_id, item.check_count) == (intent.id, 2)


async def test_release_by_a_non_owner_changes_nothing(backend: Backend) -> None:
    (intent,) = await new_intents(backend)
    await claim_intents(backend, "a")

    await release(backend, intent, "intruder", 0)

    assert await claim_intents(backend, "c") == []
    await release(backend, intent, "a", 0)
    assert await claim_intents(backend, "c") == [intent.id]


# 2. Concurrent claims are disjoint (FOR UPDATE SKIP LOCKED).


async def test_concurrent_claims_never_get_the_same_intent(backend: Backend) -> None:
    made = await new_intents(backend, 3)

    async with backend.uow() as first, backend.uow() as second:
        mine = await first.schedule.claim_due("a", 2, LONG, MOCK)
        theirs = await second.schedule.claim_due("b", 10, LONG, MOCK)
        await first.commit()
        await second.commit()

    assert (len(mine), len(theirs)) == (2, 1)
    assert {d.intent_id for d in mine} | {d.intent_id for d in theirs} == {
        i.id for i in made
    }


async def test_concurrent_receipt_claims_never_get_the_same_receipt(
    backend: Backend,
) -> None:
    made = await new_receipts(backend, 3)

    async with backend.uow() as first, backend.uow() as second:
        mine = await first.receipts.claim_due(2, LONG, MOCK, "a")
        theirs = await second.receipts.claim_due(10, LONG, MOCK, "b")
        await first.commit()
        await second.commit()

    assert (len(mine), len(theirs)) == (2, 1)
    assert {d.id for d in mine} | {d.id for d in theirs} == {r.id for r, _, _ in made}


async def test_a_claim_rolled_back_leaves_its_intents_to_the_next_claim(
    backend: Backend,
) -> None:
    made = await new_intents(backend, 2)

    async with backend.uow() as tx:
        assert len(await tx.schedule.claim_due("a", 10, LONG, MOCK)) == 2

    assert set(await claim_intents(backend, "b")) == {i.id for i in made}


# 3. The right to ask QPay now.


async def test_claim_check_is_granted_once_per_interval(backend: Backend) -> None:
    (intent,) = await new_intents(backend)

    async def claim_check(interval: float) -> bool:
        async with backend.uow() as tx:
            granted = await tx.schedule.claim_check(intent.id, interval)
            await tx.commit()
        return granted

    assert await claim_check(SHORT) is True
    assert await claim_check(LONG) is False
    await backend.pass_time(PAST_SHORT)
    assert await claim_check(SHORT) is True


# 4. Idempotency keys.


async def claim_key(
    backend: Backend, record: IdempotencyRecord
) -> IdempotencyRecord | None:
    async with backend.uow() as tx:
        stored = await tx.idempotency.claim(record)
        await tx.commit()
    return stored


async def key_records(
    backend: Backend,
) -> tuple[Payment, IdempotencyRecord, IdempotencyRecord]:
    """A cash payment, and two requests for one key with different input."""
    async with backend.uow() as tx:
        invoice = await new_invoice(tx)
        payment = cash_payment(invoice)
        await tx.payments.add(payment)
        await tx.commit()
    at = backend.now()
    return (
        payment,
        IdempotencyRecord("till-1", "one", invoice.id, at),
        IdempotencyRecord("till-1", "two", invoice.id, at + timedelta(seconds=1)),
    )


async def test_idempotency_claim_is_none_first_then_the_stored_record(
    backend: Backend,
) -> None:
    payment, first, second = await key_records(backend)

    assert await claim_key(backend, first) is None
    assert await claim_key(backend, second) == first
    async with backend.uow() as tx:
        await tx.idempotency.complete("till-1", payment.id)
        await tx.commit()
    assert await claim_key(backend, second) == IdempotencyRecord(
        "till-1", "one", first.invoice_id, first.created_at, payment.id
    )


async def test_racing_idempotency_claim_waits_for_the_first_commit(
    backend: Backend,
) -> None:
    _, first, second = await key_records(backend)

    async with backend.uow() as tx:
        assert await tx.idempotency.claim(first) is None
        racing = asyncio.create_task(claim_key(backend, second))
        await backend.until_a_transaction_waits()
        await tx.commit()

    assert await racing == first


async def test_racing_idempotency_claim_takes_the_key_when_the_first_rolls_back(
    backend: Backend,
) -> None:
    _, first, second = await key_records(backend)

    async with backend.uow() as tx:
        assert await tx.idempotency.claim(first) is None
        racing = asyncio.create_task(claim_key(backend, second))
        await backend.until_a_transaction_waits()

    assert await racing is None
    assert await claim_key(backend, first) == second


# 5. The duplicate-payment guard.


async def test_a_second_payment_with_one_qpay_payment_id_is_refused(
    backend: Backend,
) -> None:
    (intent,) = await new_intents(backend)
    original = qpay_payment(intent, "P-1")
    async with backend.uow() as tx:
        await tx.payments.add(original)
        await tx.commit()

    async with backend.uow() as tx:
        with pytest.raises(DuplicateQPayPayment):
            await tx.payments.add(qpay_payment(intent, "P-1"))
    async with backend.uow() as tx:
        await tx.payments.add(qpay_payment(intent, "P-2"))
        with pytest.raises(DuplicateQPayPayment):
            await tx.payments.add(qpay_payment(intent, "P-2"))

    async with backend.uow() as tx:
        assert await tx.payments.by_qpay_ids(["P-1", "P-2"]) == {"P-1": original}


async def test_a_racing_payment_with_the_same_qpay_id_is_refused_once_the_first_commits(
    backend: Backend,
) -> None:
    (intent,) = await new_intents(backend)

    async def add_payment() -> None:
        async with backend.uow() as tx:
            await tx.payments.add(qpay_payment(intent, "P-1"))
            await tx.commit()

    async with backend.uow() as tx:
        await tx.payments.add(qpay_payment(intent, "P-1"))
        racing = asyncio.create_task(add_payment())
        await backend.until_a_transaction_waits()
        await tx.commit()

    with pytest.raises(DuplicateQPayPayment):
        await racing


async def test_a_refused_duplicate_leaves_nothing_of_its_transaction_to_commit(
    backend: Backend,
) -> None:
    (intent,) = await new_intents(backend)
    async with backend.uow() as tx:
        invoice = await new_invoice(tx)
        await tx.payments.add(qpay_payment(intent, "P-1"))
        with pytest.raises(DuplicateQPayPayment):
            await tx.payments.add(qpay_payment(intent, "P-1"))

        # PostgreSQL answers a COMMIT of a failed one with ROLLBACK: say so.
        with pytest.raises(TransactionAborted):
            await tx.commit()

    async with backend.uow() as tx:
        assert await tx.invoices.get(invoice.id) is None
        assert await tx.payments.by_qpay_ids(["P-1"]) == {}


async def test_a_settlement_stores_its_payments_bill_and_intent_together(
    backend: Backend,
) -> None:
    (intent,) = await new_intents(backend)
    first, second = qpay_payment(intent), qpay_payment(intent)
    async with backend.uow() as tx:
        invoice = await tx.invoices.get_for_update(intent.invoice_id)
        locked = await tx.intents.get_for_update(intent.id)
        assert invoice is not None and locked is not None
        paid = replace(
            invoice, paid_amount=Decimal("200.00"), status=InvoiceStatus.PAID
        )
        settled = replace(
            locked,
            status=IntentStatus.PAID,
            paid_amount=Decimal("200.00"),
            version=locked.version + 1,
        )
        await tx.intents.store_settlement(
            settled, payments=[first, second], invoice=paid, raw={"check": 1}
        )
        await tx.commit()

    async with backend.uow() as tx:
        assert await tx.payments.by_qpay_ids(
            [str(first.qpay_payment_id), str(second.qpay_payment_id)]
        ) == {first.qpay_payment_id: first, second.qpay_payment_id: second}
        assert await tx.invoices.get(intent.invoice_id) == paid
        stored = await tx.intents.get(intent.id)
        assert stored is not None
        assert (stored.status, stored.paid_amount, stored.version) == (
            IntentStatus.PAID,
            Decimal("200.00"),
            settled.version,
        )


async def test_a_settlement_with_a_recorded_qpay_payment_id_stores_nothing(
    backend: Backend,
) -> None:
    (intent,) = await new_intents(backend)
    recorded = qpay_payment(intent, "P-1")
    async with backend.uow() as tx:
        await tx.payments.add(recorded)
        await tx.commit()

    async with backend.uow() as tx:
        invoice = await tx.invoices.get_for_update(intent.invoice_id)
        locked = await tx.intents.get_for_update(intent.id)
        assert invoice is not None and locked is not None
        other = qpay_payment(intent, "P-2")
        with pytest.raises(DuplicateQPayPayment):
            await tx.intents.store_settlement(
                replace(locked, status=IntentStatus.PAID, version=locked.version + 1),
                payments=[other, qpay_payment(intent, "P-1")],
                invoice=replace(invoice, status=InvoiceStatus.PAID),
            )
        with pytest.raises(TransactionAborted):
            await tx.commit()

    async with backend.uow() as tx:
        assert await tx.payments.by_qpay_ids(["P-1", "P-2"]) == {"P-1": recorded}
        assert await tx.invoices.get(intent.invoice_id) == invoice
        assert await tx.intents.get(intent.id) == locked


async def test_payments_without_a_qpay_payment_id_never_collide(
    backend: Backend,
) -> None:
    async with backend.uow() as tx:
        invoice = await new_invoice(tx)
        first, second = cash_payment(invoice), cash_payment(invoice)
        await tx.payments.add(first)
        await tx.payments.add(second)
        await tx.commit()

    async with backend.uow() as tx:
        stored = await tx.payments.list_for_invoices([invoice.id])
    assert {p.id for p in stored} == {first.id, second.id}


# 6. e-Barimt receipts.


async def claim_receipts(
    backend: Backend, owner: str, lease: float = LONG
) -> list[DueReceipt]:
    async with backend.uow() as tx:
        due = await tx.receipts.claim_due(10, lease, MOCK, owner)
        await tx.commit()
    return list(due)


async def fail(
    backend: Backend,
    receipt: EbarimtReceipt,
    owner: str,
    retry_in: float | None,
    uncertain: bool | None = None,
) -> tuple[bool, int | None]:
    async with backend.uow() as tx:
        marked = await tx.receipts.mark_failed(
            receipt.id,
            "boom",
            owner=owner,
            attempts=1,
            retry_in=retry_in,
            uncertain=uncertain,
            now=backend.now(),
        )
        await tx.commit()
    return marked.applied, marked.intent_version


async def test_receipt_claim_leases_pending_due_receipts_of_the_environment(
    backend: Backend,
) -> None:
    ((receipt, payment, intent),) = await new_receipts(backend)
    await new_receipts(backend, environment=LIVE)
    async with backend.uow() as tx:
        await tx.receipts.add_pending(receipt, intent.id)  # one per payment
        await tx.commit()

    async with backend.uow() as tx:
        (due,) = await tx.receipts.claim_due(10, LONG, MOCK, "a")
        await tx.commit()

    assert (due.id, due.payment_id, due.intent_id) == (
        receipt.id,
        payment.id,
        intent.id,
    )
    assert (due.qpay_payment_id, due.attempts, due.uncertain) == (
        payment.qpay_payment_id,
        0,
        False,
    )
    assert await claim_receipts(backend, "b") == []


async def test_receipt_marks_apply_only_for_the_lease_owner_while_pending(
    backend: Backend,
) -> None:
    ((receipt, payment, intent),) = await new_receipts(backend)
    await claim_receipts(backend, "a")
    issued, now = IssuedReceipt("E-1", "L-1", "qr"), backend.now()

    async with backend.uow() as tx:
        sending_b = await tx.receipts.mark_sending(receipt.id, "b")
        issued_b = await tx.receipts.mark_issued(receipt.id, issued, owner="b", now=now)
        sending_a = await tx.receipts.mark_sending(receipt.id, "a")
        issued_a = await tx.receipts.mark_issued(receipt.id, issued, owner="a", now=now)
        await tx.commit()

    assert (sending_b, issued_b.applied, sending_a) == (False, False, True)
    assert (issued_a.applied, issued_a.intent_version) == (True, intent.version + 1)
    assert await fail(backend, receipt, "a", retry_in=0) == (False, None)
    async with backend.uow() as tx:
        (stored,) = await tx.receipts.list_for_payments([payment.id])
        assert not await tx.receipts.mark_sending(receipt.id, "a")
    assert (stored.status, stored.lottery, stored.attempts) == (
        EbarimtStatus.ISSUED,
        "L-1",
        1,
    )


async def test_a_watched_intent_and_its_receipt_are_read_as_one(
    backend: Backend,
) -> None:
    ((receipt, _, intent),) = await new_receipts(backend)
    async with backend.uow() as tx:
        before = await tx.intents.get_watched(intent.id)
    await claim_receipts(backend, "a")
    async with backend.uow() as tx:
        await tx.receipts.mark_issued(
            receipt.id, IssuedReceipt("E-1", "L-1", "qr"), owner="a", now=backend.now()
        )
        await tx.commit()

    async with backend.uow() as tx:
        after = await tx.intents.get_watched(intent.id)
        unknown = await tx.intents.get_watched(IntentId(uuid4()))

    assert before is not None and after is not None and unknown is None
    assert (before[0].version, before[2]) == (intent.version, True)
    assert (after[0].version, after[2]) == (intent.version + 1, False)
    # The invoice comes with it, as stored (one statement for a re-read).
    assert before[1].id == after[1].id == intent.invoice_id
    async with backend.uow() as tx:
        assert after[1] == await tx.invoices.get(intent.invoice_id)


async def test_lapsed_receipt_lease_is_taken_by_another_owner(backend: Backend) -> None:
    ((receipt, _, _),) = await new_receipts(backend)
    await claim_receipts(backend, "a", lease=SHORT)

    await backend.pass_time(PAST_SHORT)

    assert [d.id for d in await claim_receipts(backend, "b")] == [receipt.id]
    assert await fail(backend, receipt, "a", retry_in=0) == (False, None)
    assert await fail(backend, receipt, "b", retry_in=0) == (True, None)


async def test_retry_in_postpones_the_next_claim(backend: Backend) -> None:
    (soon, _, _), (late, _, _) = await new_receipts(backend, 2)
    await claim_receipts(backend, "a")

    await fail(backend, soon, "a", retry_in=SHORT)
    await fail(backend, late, "a", retry_in=LONG)
    await backend.pass_time(PAST_SHORT)

    (due,) = await claim_receipts(backend, "b")
    assert (due.id, due.attempts) == (soon.id, 1)


async def test_a_receipt_failed_for_good_is_listed_and_never_claimed(
    backend: Backend,
) -> None:
    ((receipt, _, intent),) = await new_receipts(backend)
    await claim_receipts(backend, "a")

    assert await fail(backend, receipt, "a", retry_in=None) == (
        True,
        intent.version + 1,
    )

    async with backend.uow() as tx:
        failed = await tx.receipts.list_failed(MOCK)
    assert [(r.id, r.status, r.last_error) for r in failed] == [
        (receipt.id, EbarimtStatus.FAILED, "boom")
    ]
    assert await claim_receipts(backend, "b") == []


async def test_uncertain_flag_round_trips_through_the_claim(backend: Backend) -> None:
    ((receipt, _, _),) = await new_receipts(backend)
    await claim_receipts(backend, "a")
    async with backend.uow() as tx:
        assert await tx.receipts.mark_sending(receipt.id, "a")
        await tx.commit()
    await fail(backend, receipt, "a", retry_in=0)

    (kept,) = await claim_receipts(backend, "b")
    await fail(backend, receipt, "b", retry_in=0, uncertain=None)
    (still,) = await claim_receipts(backend, "c")
    await fail(backend, receipt, "c", retry_in=0, uncertain=False)
    (cleared,) = await claim_receipts(backend, "d")
    await fail(backend, receipt, "d", retry_in=0, uncertain=True)
    (set_again,) = await claim_receipts(backend, "e")

    assert [d.uncertain for d in (kept, still, cleared, set_again)] == [
        True,
        True,
        False,
        True,
    ]


# 7. The ledger sweep's lease and cursor, and its flags.


async def claim_sweep(
    backend: Backend, owner: str, lease: float = LONG
) -> SweepClaim | None:
    async with backend.uow() as tx:
        claim = await tx.ledger.claim_sweep(MOCK, owner, lease)
        await tx.commit()
    return claim


async def finish_sweep(
    backend: Backend, owner: str, until: datetime, next_in: float
) -> None:
    async with backend.uow() as tx:
        await tx.ledger.finish_sweep(MOCK, owner, until, next_in)
        await tx.commit()


async def release_sweep(backend: Backend, owner: str, retry_in: float) -> None:
    async with backend.uow() as tx:
        await tx.ledger.release_sweep(MOCK, owner, retry_in)
        await tx.commit()


async def swept_until(backend: Backend) -> datetime | None:
    async with backend.uow() as tx:
        return (await tx.ledger.sweep_state(MOCK)).swept_until


async def test_one_sweep_claim_at_a_time_from_the_first_created_intent(
    backend: Backend,
) -> None:
    start = backend.now() - timedelta(days=3)
    await new_intents(backend, created_at=start + timedelta(hours=2))
    await new_intents(backend, created_at=start + HOUR)
    await new_intents(backend, created_at=start, qpay_invoice_id=None)
    await new_intents(backend, created_at=start, environment=LIVE)

    claim = await claim_sweep(backend, "a")

    assert claim is not None
    assert (claim.swept_until, claim.first_intent_at) == (
        None,
        start + HOUR,
    )
    assert await claim_sweep(backend, "b") is None


async def test_a_racing_sweep_claim_waits_and_then_gets_nothing(
    backend: Backend,
) -> None:
    async with backend.uow() as tx:
        assert await tx.ledger.claim_sweep(MOCK, "a", LONG) is not None
        racing = asyncio.create_task(claim_sweep(backend, "b"))
        await backend.until_a_transaction_waits()
        await tx.commit()

    assert await racing is None


async def test_a_lapsed_sweep_lease_goes_to_another_owner(backend: Backend) -> None:
    until = backend.now() - HOUR
    await claim_sweep(backend, "a", lease=SHORT)

    await backend.pass_time(PAST_SHORT)

    assert await claim_sweep(backend, "b") is not None
    await finish_sweep(backend, "a", until, 0)
    assert await swept_until(backend) is None
    assert await claim_sweep(backend, "c") is None


async def test_only_the_sweep_lease_holder_extends_it(backend: Backend) -> None:
    await claim_sweep(backend, "a", lease=SHORT)

    async with backend.uow() as tx:
        extended = await tx.ledger.extend_sweep(MOCK, "a", LONG)
        stranger = await tx.ledger.extend_sweep(MOCK, "b", LONG)
        await tx.commit()
    await backend.pass_time(PAST_SHORT)

    assert (extended, stranger) == (True, False)
    assert await claim_sweep(backend, "b") is None


async def test_finish_sweep_moves_the_cursor_and_waits_next_in(
    backend: Backend,
) -> None:
    until = backend.now() - HOUR
    await claim_sweep(backend, "a")

    await finish_sweep(backend, "a", until, LONG)

    assert await swept_until(backend) == until
    assert await claim_sweep(backend, "b") is None


async def test_finish_sweep_never_moves_the_cursor_backwards(
    backend: Backend,
) -> None:
    later = backend.now() - HOUR
    await claim_sweep(backend, "a")
    await finish_sweep(backend, "a", later, 0)
    await claim_sweep(backend, "b")

    await finish_sweep(backend, "b", later - HOUR, 0)

    claim = await claim_sweep(backend, "c")
    assert claim is not None and claim.swept_until == later


async def test_release_sweep_keeps_the_cursor_and_waits_retry_in(
    backend: Backend,
) -> None:
    until = backend.now() - HOUR
    await claim_sweep(backend, "a")
    await finish_sweep(backend, "a", until, 0)
    await claim_sweep(backend, "b")

    await release_sweep(backend, "b", 0)
    again = await claim_sweep(backend, "c")
    await release_sweep(backend, "c", LONG)

    assert again is not None and again.swept_until == until
    assert await claim_sweep(backend, "d") is None
    assert await swept_until(backend) == until


async def test_finish_and_release_by_a_non_owner_change_nothing(
    backend: Backend,
) -> None:
    await claim_sweep(backend, "a")

    await finish_sweep(backend, "b", backend.now(), 0)
    await release_sweep(backend, "b", 0)

    assert await swept_until(backend) is None
    assert await claim_sweep(backend, "c") is None


async def test_a_flag_is_new_once_per_environment_kind_and_payment(
    backend: Backend,
) -> None:
    flag = LedgerFlag(LedgerFlagKind.UNMATCHED, "P-1", "no intent")
    first_seen = backend.now().replace(microsecond=0)

    async with backend.uow() as tx:
        raised = [
            await tx.ledger.raise_flag(MOCK, flag, first_seen),
            await tx.ledger.raise_flag(
                MOCK, replace(flag, detail="still no intent"), first_seen + HOUR
            ),
            await tx.ledger.raise_flag(LIVE, flag, first_seen),
            await tx.ledger.raise_flag(
                MOCK, replace(flag, kind=LedgerFlagKind.MISMATCH), first_seen + HOUR
            ),
        ]
        await tx.commit()

    assert raised == [True, False, True, True]
    async with backend.uow() as tx:
        flags = await tx.ledger.open_flags(MOCK)
    assert [(f.kind, f.detail, f.first_seen_at) for f in flags] == [
        (LedgerFlagKind.UNMATCHED, "still no intent", first_seen),
        (LedgerFlagKind.MISMATCH, "no intent", first_seen + HOUR),
    ]


async def test_a_decision_resolves_the_flags_of_its_qpay_invoice_for_good(
    backend: Backend,
) -> None:
    malformed = LedgerFlag(LedgerFlagKind.MALFORMED, "P-1", "3 decimals")
    now = backend.now()
    async with backend.uow() as tx:
        # Raised first without its QPay invoice, then with it: it learns it.
        await tx.ledger.raise_flag(MOCK, malformed, now)
        await tx.ledger.raise_flag(
            MOCK, replace(malformed, qpay_invoice_id="INV-1"), now
        )
        other_invoice = LedgerFlag(
            LedgerFlagKind.MALFORMED, "P-2", "3 decimals", qpay_invoice_id="INV-2"
        )
        other_kind = LedgerFlag(
            LedgerFlagKind.UNMATCHED, "P-3", "no intent", qpay_invoice_id="INV-1"
        )
        await tx.ledger.raise_flag(MOCK, other_invoice, now)
        await tx.ledger.raise_flag(MOCK, other_kind, now)
        await tx.ledger.raise_flag(
            LIVE, replace(malformed, qpay_invoice_id="INV-1"), now
        )
        await tx.commit()

    async with backend.uow() as tx:
        resolved = await tx.ledger.resolve_flags(
            MOCK, "INV-1", LedgerFlagKind.MALFORMED, now
        )
        again = await tx.ledger.resolve_flags(
            MOCK, "INV-1", LedgerFlagKind.MALFORMED, now
        )
        await tx.commit()
    async with backend.uow() as tx:
        # Seen again by a later sweep: still resolved.
        assert not await tx.ledger.raise_flag(MOCK, malformed, now + HOUR)
        await tx.commit()

    assert (resolved, again) == (1, 0)
    async with backend.uow() as tx:
        still_open = await tx.ledger.open_flags(MOCK)
        live = await tx.ledger.open_flags(LIVE)
    assert sorted(f.qpay_payment_id for f in still_open) == ["P-2", "P-3"]
    assert [f.qpay_payment_id for f in live] == ["P-1"]


# 8. Transactions.


async def test_recorded_events_are_announced_at_commit_newest_version_per_intent(
    backend: Backend,
) -> None:
    (intent,) = await new_intents(backend)
    paid = IntentStatus.PAID
    async with backend.uow() as tx:
        tx.record(IntentChanged(intent.id, paid, 1))
    async with backend.uow() as tx:
        tx.record(IntentChanged(intent.id, paid, 1))
        await tx.rollback()
        await tx.commit()

    assert backend.announced() == []  # rolled back: never announced

    async with backend.uow() as tx:
        tx.record(
            IntentChanged(intent.id, paid, 2),
            PaymentRecorded(PaymentId(uuid4()), intent.invoice_id, Decimal(1), "P1"),
            ReceiptChanged(uuid4(), intent.id, 3),
            IntentChanged(intent.id, paid, 1),
        )
        assert backend.announced() == []  # not before the commit
        await tx.commit()

    # The intent's newest version, and that the history grew (paymentEvents).
    assert backend.announced() == [(intent.id, 3), (HISTORY_TOPIC, 0)]


async def test_an_announced_state_goes_with_its_change_at_that_version_only(
    backend: Backend,
) -> None:
    (intent,) = await new_intents(backend)
    async with backend.uow() as tx:
        invoice = await tx.invoices.get(intent.invoice_id)
    assert invoice is not None
    paid = IntentStatus.PAID
    at_two = PaymentStatus(replace(intent, status=paid, version=2), invoice)
    async with backend.uow() as tx:
        tx.record(IntentChanged(intent.id, paid, 2))
        tx.announce(at_two)
        await tx.rollback()
        await tx.commit()
    async with backend.uow() as tx:
        # A state of another version than the one announced is not sent.
        tx.record(IntentChanged(intent.id, paid, 3))
        tx.announce(at_two)
        await tx.commit()

    assert backend.pushed() == []  # rolled back, then a stale state

    async with backend.uow() as tx:
        tx.record(IntentChanged(intent.id, paid, 2))
        tx.announce(at_two)
        assert backend.pushed() == []  # not before the commit
        await tx.commit()

    assert backend.pushed() == [at_two]
    assert backend.announced()[-2:] == [(intent.id, 2), (HISTORY_TOPIC, 0)]


async def test_recorded_events_become_the_invoices_history_at_commit_only(
    backend: Backend,
) -> None:
    (intent,) = await new_intents(backend)
    payment = qpay_payment(intent)
    async with backend.uow() as tx:
        await tx.payments.add(payment)
        tx.record(
            PaymentRecorded(payment.id, payment.invoice_id, payment.amount, "P1"),
            IntentChanged(intent.id, IntentStatus.PAID, 1, actor="dr.bold"),
            ReceiptChanged(uuid4(), intent.id, 2, payment_id=payment.id),
        )
        await tx.commit()
    async with backend.uow() as tx:
        tx.record(IntentChanged(intent.id, IntentStatus.CANCELLED, 3, actor="x"))
        await tx.rollback()
        await tx.commit()
    async with backend.uow() as tx:
        tx.record(IntentChanged(intent.id, IntentStatus.EXPIRED, 4))
        # leaving without commit: rolled back

    async with backend.uow() as tx:
        found = await tx.history.list_for_invoices(
            [intent.invoice_id, InvoiceId(uuid4())]
        )

    assert [(e.kind.value, e.invoice_id, e.actor) for e in found] == [
        ("PAYMENT_RECORDED", intent.invoice_id, None),
        ("INTENT_CHANGED", intent.invoice_id, "dr.bold"),
        ("RECEIPT_CHANGED", intent.invoice_id, None),
    ]
    assert found[0].payment_id == payment.id and found[0].intent_id == intent.id
    assert found[1].intent_status is IntentStatus.PAID
    assert found[2].payment_id == payment.id and found[2].receipt_id is not None
    assert found[0].id < found[1].id < found[2].id


async def test_leaving_without_commit_rolls_back_every_write(backend: Backend) -> None:
    (claimed,) = await new_intents(backend)
    (intent,) = await new_intents(backend, qpay_invoice_id=None)
    ((receipt, _, paid),) = await new_receipts(backend)
    _, key, _ = await key_records(backend)
    flag = LedgerFlag(LedgerFlagKind.UNMATCHED, "P-1", "no intent")

    async with backend.uow() as tx:
        invoice = await new_invoice(tx)
        payment = cash_payment(invoice)
        await tx.payments.add(payment)
        await tx.schedule.claim_due("a", 10, LONG, MOCK)
        await tx.receipts.claim_due(10, LONG, MOCK, "a")
        await tx.intents.update(
            intent.evolved(backend.now(), status=IntentStatus.CANCELLED)
        )
        await tx.idempotency.claim(key)
        await tx.ledger.claim_sweep(MOCK, "a", LONG)
        await tx.ledger.raise_flag(MOCK, flag, backend.now())

    async with backend.uow() as tx:
        assert await tx.invoices.get(invoice.id) is None
        assert await tx.payments.get(payment.id) is None
        stored = await tx.intents.get(intent.id)
        assert stored is not None and stored.status is IntentStatus.PENDING
        assert await tx.ledger.open_flags(MOCK) == []
    assert await claim_key(backend, key) is None
    assert set(await claim_intents(backend, "b")) == {claimed.id, paid.id}
    assert [d.id for d in await claim_receipts(backend, "b")] == [receipt.id]
    assert await claim_sweep(backend, "b") is not None


async def test_rollback_discards_and_the_unit_of_work_goes_on(backend: Backend) -> None:
    async with backend.uow() as tx:
        dropped = await new_invoice(tx)
        await tx.rollback()
        kept = await new_invoice(tx)
        await tx.commit()

    async with backend.uow() as tx:
        assert await tx.invoices.get(dropped.id) is None
        assert await tx.invoices.get(kept.id) == kept


async def test_writes_after_a_commit_need_a_commit_of_their_own(
    backend: Backend,
) -> None:
    async with backend.uow() as tx:
        committed = await new_invoice(tx)
        await tx.commit()
        dropped = await new_invoice(tx)

    async with backend.uow() as tx:
        assert await tx.invoices.get(committed.id) == committed
        assert await tx.invoices.get(dropped.id) is None


async def test_others_see_a_write_once_it_commits_and_not_before(
    backend: Backend,
) -> None:
    async with backend.uow() as reader, backend.uow() as writer:
        invoice = await new_invoice(writer)
        before = await reader.invoices.get(invoice.id)
        await writer.commit()
        after = await reader.invoices.get(invoice.id)

    assert (before, after) == (None, invoice)


async def test_concurrent_commits_of_different_rows_both_last(
    backend: Backend,
) -> None:
    async with backend.uow() as first, backend.uow() as second:
        one = await new_invoice(first)
        other = await new_invoice(second)
        await first.commit()
        await second.commit()

    async with backend.uow() as tx:
        assert [await tx.invoices.get(i.id) for i in (one, other)] == [one, other]


async def test_invoice_numbers_are_never_reused_even_after_a_rollback(
    backend: Backend,
) -> None:
    async with backend.uow() as tx:
        dropped = await tx.invoices.next_number()
    async with backend.uow() as tx:
        taken = await tx.invoices.next_number()

    assert taken != dropped


async def test_the_database_clock_stands_still_within_a_transaction(
    backend: Backend,
) -> None:
    async with backend.uow() as tx:
        started = (await tx.ledger.sweep_state(MOCK)).now
        await backend.pass_time(PAST_SHORT)
        same = (await tx.ledger.sweep_state(MOCK)).now
    async with backend.uow() as tx:
        later = (await tx.ledger.sweep_state(MOCK)).now

    assert same == started < later


# 9. Reads whose order or filter the use cases rely on.


def newest_first(rows: Sequence[Invoice]) -> list[UUID]:
    ordered = sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)
    return [r.id for r in ordered]


async def test_invoice_pages_come_newest_first_with_the_id_breaking_ties(
    backend: Backend,
) -> None:
    start = backend.now() - timedelta(days=1)
    async with backend.uow() as tx:
        for n in (0, 1, 1, 1, 2):  # three share a creation time: the id decides
            invoice = make_invoice(number=f"D-{uuid4().hex[:12]}")
            await tx.invoices.add(replace(invoice, created_at=start + n * HOUR))
        await tx.commit()

    async with backend.uow() as tx:
        everything = await tx.invoices.page(ListFilter(), 100, None)
        first = await tx.invoices.page(ListFilter(), 3, None)
        last = first[-1]
        rest = await tx.invoices.page(
            ListFilter(), 100, Position(last.created_at, last.id)
        )

    assert len(everything) == 5
    assert [i.id for i in everything] == newest_first(everything)
    assert len(first) == 3
    assert [i.id for i in [*first, *rest]] == [i.id for i in everything]


async def test_invoice_pages_filter_by_status_and_creation_period(
    backend: Backend,
) -> None:
    start = backend.now() - timedelta(days=1)
    async with backend.uow() as tx:
        made = []
        for n, status in enumerate(
            [InvoiceStatus.UNPAID, InvoiceStatus.PAID, InvoiceStatus.VOID] * 2
        ):
            invoice = replace(
                make_invoice(number=f"F-{uuid4().hex[:12]}"),
                status=status,
                created_at=start + n * HOUR,
            )
            await tx.invoices.add(invoice)
            made.append(invoice)
        await tx.commit()
    wanted = ListFilter(
        statuses=frozenset({InvoiceStatus.UNPAID, InvoiceStatus.VOID}),
        created_from=start + HOUR,
        created_to=start + 5 * HOUR,
    )

    async with backend.uow() as tx:
        found = await tx.invoices.page(wanted, 100, None)

    assert [i.id for i in found] == [made[3].id, made[2].id]


async def test_payment_totals_count_mnt_in_the_period_by_method(
    backend: Backend,
) -> None:
    start = backend.now() - timedelta(days=1)
    end = start + HOUR
    async with backend.uow() as tx:
        invoice = await new_invoice(tx)
        made = [
            (PaymentMethod.CASH, "100.00", start, "MNT"),
            (PaymentMethod.CASH, "50.50", end - timedelta(microseconds=1), "MNT"),
            (PaymentMethod.CARD, "70.00", start + timedelta(minutes=5), "MNT"),
            (PaymentMethod.CASH, "999.00", end, "MNT"),  # the next period
            (PaymentMethod.CASH, "999.00", start - timedelta(seconds=1), "MNT"),
            (PaymentMethod.CASH, "5.00", start, "USD"),  # never counted
        ]
        for method, amount, at, currency in made:
            await tx.payments.add(
                Payment(
                    id=PaymentId(uuid4()),
                    invoice_id=invoice.id,
                    method=method,
                    amount=Decimal(amount),
                    created_at=at,
                    currency=currency,
                )
            )
        await tx.commit()

    async with backend.uow() as tx:
        found = await tx.payments.totals_by_method(start, end)

    assert dict(found) == {
        PaymentMethod.CASH: (Decimal("150.50"), 2),
        PaymentMethod.CARD: (Decimal("70.00"), 1),
    }


async def test_intent_pages_hold_only_created_intents_newest_first(
    backend: Backend,
) -> None:
    start = backend.now() - timedelta(days=1)
    async with backend.uow() as tx:
        invoice = await new_invoice(tx)
        made = [
            make_intent(
                invoice,
                created_at=start + n * HOUR,
                status=IntentStatus.PAID if n % 2 else IntentStatus.PENDING,
            )
            for n in range(4)
        ]
        made.append(make_intent(invoice, created_at=start, qpay_invoice_id=None))
        for intent in made:
            await tx.intents.add(
                intent, client_secret_hash="c" * 64, callback_token_hash="t" * 64
            )
        await tx.commit()
    paid = ListFilter(statuses=frozenset({IntentStatus.PAID}))

    async with backend.uow() as tx:
        everything = await tx.intents.page(ListFilter(), 100, None)
        only_paid = await tx.intents.page(paid, 100, None)
        after_second = await tx.intents.page(
            ListFilter(), 100, Position(everything[1].created_at, everything[1].id)
        )

    assert [i.id for i in everything] == [i.id for i in reversed(made[:4])]
    assert [i.id for i in only_paid] == [made[3].id, made[1].id]
    assert [i.id for i in after_second] == [made[1].id, made[0].id]


async def test_open_intents_come_oldest_first_and_newest_first_per_invoice(
    backend: Backend,
) -> None:
    start = backend.now() - timedelta(days=1)
    async with backend.uow() as tx:
        invoice = await new_invoice(tx)
        made = [
            make_intent(invoice, created_at=start + n * HOUR, expires_at=start)
            for n in (2, 0, 1)
        ]
        made.append(
            make_intent(invoice, status=IntentStatus.PAID, created_at=start + 3 * HOUR)
        )
        for intent in made:
            await tx.intents.add(
                intent, client_secret_hash="c" * 64, callback_token_hash="t" * 64
            )
        await tx.commit()

    async with backend.uow() as tx:
        open_ones = await tx.intents.list_open(MOCK)
        per_invoice = await tx.intents.list_for_invoices([invoice.id])

    by_age = sorted(made[:3], key=lambda i: i.created_at)
    assert [i.id for i in open_ones] == [i.id for i in by_age]
    assert [i.id for i in per_invoice] == [made[3].id, *(i.id for i in by_age[::-1])]


async def test_an_intent_keeps_its_newest_eight_client_secrets(
    backend: Backend,
) -> None:
    (intent,) = await new_intents(backend)

    async with backend.uow() as tx:
        for n in range(10):
            await tx.intents.add_client_secret(intent.id, f"{n:064d}")
        await tx.commit()

    async with backend.uow() as tx:
        secrets = await tx.intents.secrets(intent.id)
    assert secrets is not None
    assert secrets.client_secret_hashes == tuple(f"{n:064d}" for n in range(9, 1, -1))


def _refund(
    payment: Payment,
    amount: str,
    channel: RefundChannel,
    status: RefundStatus = RefundStatus.COMPLETED,
    at: datetime | None = None,
) -> Refund:
    when = at or payment.created_at
    return Refund(
        id=RefundId(uuid4()),
        payment_id=payment.id,
        invoice_id=payment.invoice_id,
        amount=Decimal(amount),
        status=status,
        channel=channel,
        reason="contract",
        created_at=when,
        updated_at=when,
        completed_at=when if status is RefundStatus.COMPLETED else None,
    )


async def _paid(tx: UnitOfWork, method: PaymentMethod, at: datetime) -> Payment:
    invoice = await new_invoice(tx)
    payment = Payment(
        id=PaymentId(uuid4()),
        invoice_id=invoice.id,
        method=method,
        amount=Decimal("100.00"),
        created_at=at,
        qpay_payment_id=str(uuid4().int)[:15] if method is PaymentMethod.QPAY else None,
    )
    await tx.payments.add(payment)
    return payment


async def test_a_payment_has_one_live_qpay_refund_and_any_desk_refunds(
    backend: Backend,
) -> None:
    at = backend.now()
    async with backend.uow() as tx:
        qpay = await _paid(tx, PaymentMethod.QPAY, at)
        cash = await _paid(tx, PaymentMethod.CASH, at)
        failed = _refund(qpay, "100.00", RefundChannel.QPAY, RefundStatus.FAILED)
        added = [
            await tx.refunds.add(failed),
            await tx.refunds.add(_refund(qpay, "100.00", RefundChannel.QPAY)),
            await tx.refunds.add(_refund(qpay, "100.00", RefundChannel.OUTSIDE)),
            await tx.refunds.add(_refund(cash, "40.00", RefundChannel.DESK)),
            await tx.refunds.add(_refund(cash, "60.00", RefundChannel.DESK)),
        ]
        await tx.commit()

    async with backend.uow() as tx:
        found = await tx.refunds.list_for_payments([qpay.id, cash.id])

    assert added == [True, True, False, True, True]
    assert sorted(r.amount for r in found if r.payment_id == cash.id) == [
        Decimal("40.00"),
        Decimal("60.00"),
    ]
    assert len([r for r in found if r.payment_id == qpay.id]) == 2


async def test_deleting_a_refund_deletes_its_key_and_pending_ones_are_listed(
    backend: Backend,
) -> None:
    at = backend.now() - HOUR
    async with backend.uow() as tx:
        payment = await _paid(tx, PaymentMethod.QPAY, at)
        pending = _refund(payment, "100.00", RefundChannel.QPAY, RefundStatus.PENDING)
        await tx.idempotency.claim(
            IdempotencyRecord("refund-key", "print", payment.invoice_id, at)
        )
        await tx.refunds.add(pending)
        await tx.idempotency.complete_refund("refund-key", pending.id)
        await tx.commit()
    async with backend.uow() as tx:
        listed = await tx.refunds.pending(at + timedelta(seconds=1), 10)
        stored = await tx.idempotency.claim(
            IdempotencyRecord("refund-key", "other", payment.invoice_id, at)
        )
        await tx.refunds.delete(pending.id)
        await tx.commit()

    async with backend.uow() as tx:
        again = await tx.idempotency.claim(
            IdempotencyRecord("refund-key", "new", payment.invoice_id, at)
        )
        gone = await tx.refunds.get(pending.id)

    assert [r.id for r in listed] == [pending.id]
    assert stored is not None and stored.refund_id == pending.id
    assert again is None and gone is None


async def test_refund_totals_count_completed_mnt_refunds_by_completion(
    backend: Backend,
) -> None:
    start = backend.now() - timedelta(days=1)
    end = start + HOUR
    async with backend.uow() as tx:
        cash = await _paid(tx, PaymentMethod.CASH, start - HOUR)
        card = await _paid(tx, PaymentMethod.QPAY, start - HOUR)
        for refund in (
            _refund(cash, "10.00", RefundChannel.DESK, at=start),
            _refund(cash, "20.00", RefundChannel.DESK, at=end),  # the next period
            _refund(cash, "5.00", RefundChannel.DESK, RefundStatus.PENDING, at=start),
            _refund(card, "100.00", RefundChannel.QPAY, at=end - timedelta(seconds=1)),
        ):
            await tx.refunds.add(refund)
        await tx.commit()

    async with backend.uow() as tx:
        found = await tx.refunds.totals_by_method(start, end)

    assert dict(found) == {
        PaymentMethod.CASH: (Decimal("10.00"), 1),
        PaymentMethod.QPAY: (Decimal("100.00"), 1),
    }


async def test_locking_for_settlement_reads_the_intent_and_its_recorded_qpay_ids(
    backend: Backend,
) -> None:
    """One statement in the settling transaction: the intent, locked (after
    its invoice), and the QPay payment ids its invoice already counts."""
    first, second = await new_intents(backend, 2)
    async with backend.uow() as tx:
        invoice = await tx.invoices.get(first.invoice_id)
        assert invoice is not None
        await tx.payments.add(qpay_payment(first, "P-1"))
        await tx.payments.add(qpay_payment(second, "P-2"))
        await tx.payments.add(cash_payment(invoice))
        await tx.commit()

    async with backend.uow() as tx:
        await tx.invoices.get_for_update(first.invoice_id)
        locked = await tx.intents.lock_for_settlement(first.id)
        expected = await tx.intents.get_for_update(first.id)
        unknown = await tx.intents.lock_for_settlement(IntentId(uuid4()))

    assert locked == (expected, frozenset({"P-1", "P-2"}))
    assert unknown is None
