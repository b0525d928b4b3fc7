"""FakeUnitOfWork: a transaction over a FakeStore (see the package docstring)."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from domain.events import HISTORY_TOPIC, DomainEvent, announced_version
from domain.invoices import InvoiceStatus
from domain.ports import TransactionAborted
from domain.status import PaymentStatus, PushedStatus
from tests.fakes.uow.callbacks import FakeCallbacks
from tests.fakes.uow.history import FakeHistory, entries
from tests.fakes.uow.idempotency import FakeKeys
from tests.fakes.uow.intents import FakeIntents
from tests.fakes.uow.invoices import FakeInvoices
from tests.fakes.uow.ledger import FakeLedger
from tests.fakes.uow.methods import FakeMethods
from tests.fakes.uow.payments import FakePayments
from tests.fakes.uow.receipts import FakeReceipts
from tests.fakes.uow.refunds import FakeRefunds
from tests.fakes.uow.schedule import FakeSchedule
from tests.fakes.uow.store import FakeStore, LockKey, Transaction


class FakeUnitOfWork:
    """A transaction over a FakeStore (see the module docstring)."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.invoices = FakeInvoices(self)
        self.payments = FakePayments(self)
        self.intents = FakeIntents(self)
        self.schedule = FakeSchedule(self)
        self.idempotency = FakeKeys(self)
        self.receipts = FakeReceipts(self)
        self.methods = FakeMethods(self)
        self.callbacks = FakeCallbacks(self)
        self.ledger = FakeLedger(self)
        self.history = FakeHistory(self)
        self.refunds = FakeRefunds(self)
        self._tx: Transaction | None = None

    @property
    def tx(self) -> Transaction:
        if self._tx is None:
            raise RuntimeError("unit of work used outside `async with`")
        return self._tx

    async def __aenter__(self) -> Self:
        self._tx = Transaction(self.store)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._end()
        self._tx = None

    async def commit(self) -> None:
        tx = self.tx
        if tx.aborted is not None:
            await self.rollback()  # what PostgreSQL does with COMMIT then
            raise TransactionAborted(
                f"{tx.aborted}; nothing of this unit of work stored"
            )
        history = entries(
            tx,
            tx.events,
            len(self.store.history) + 1,
            tx.started_at or self.store.clock.now(),
        )
        tx.apply(self.store)
        self.store.history.extend(history)
        if tx.events:
            tx.changes[HISTORY_TOPIC] = 0
        self._end()
        self._tx = Transaction(self.store)  # the connection begins anew
        self.store.notified.extend(tx.changes.items())
        # As the SQL unit of work: a state goes with its intent's change only
        # at the version announced for it.
        states = {
            intent_id: status
            for intent_id, status in tx.states.items()
            if tx.changes.get(intent_id) == status.intent.version
        }
        self.store.pushed.extend(states.values())
        if self.store.hub is not None:
            for intent_id, version in tx.changes.items():
                status = states.get(intent_id)
                pushed = PushedStatus.of(status) if status is not None else None
                self.store.hub.deliver(intent_id, version, pushed)

    async def rollback(self) -> None:
        self._end()
        self._tx = Transaction(self.store)

    def record(self, *events: DomainEvent) -> None:
        self.tx.events.extend(events)
        changes = self.tx.changes
        for event in events:
            announced = announced_version(event)
            if announced is not None:
                intent_id, version = announced
                changes[intent_id] = max(version, changes.get(intent_id, -1))

    def announce(self, status: PaymentStatus) -> None:
        self.tx.states[status.intent.id] = status

    async def lock(self, key: LockKey) -> None:
        """Hold the row lock `key` until the transaction ends; wait while
        another transaction holds it."""
        tx = self.tx
        while (holder := self.store.locks.get(key)) is not None and holder is not tx:
            if holder.task is tx.task:
                raise RuntimeError(
                    f"{key} is locked by another unit of work of this task: "
                    "on PostgreSQL this would wait forever"
                )
            self.store.lock_waits += 1
            try:
                await holder.ended.wait()
            finally:
                self.store.lock_waits -= 1
        if key not in self.store.locks:
            self.store.locks[key] = tx
            tx.locks.append(key)

    def _end(self) -> None:
        """The transaction ends: its locks go, its waiters wake."""
        tx = self.tx
        for key in tx.locks:
            del self.store.locks[key]
        tx.ended.set()


def invoice_status_counts(store: FakeStore) -> dict[InvoiceStatus, int]:
    counts: dict[InvoiceStatus, int] = {}
    for invoice in store.invoices.values():
        counts[invoice.status] = counts.get(invoice.status, 0) + 1
    return counts
