"""The unit of work: one connection, one transaction, explicit commit.

It holds an AsyncConnection, not an ORM AsyncSession: the repositories run
prebuilt Core statements and map rows to domain objects themselves, so the
session's identity map and state tracking were pure cost (measured in
docs/benchmarks.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Protocol, Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.events import HISTORY_TOPIC, DomainEvent, announced_version
from domain.intents import IntentId
from domain.ports import TransactionAborted
from domain.status import PaymentStatus
from persistence import history
from persistence.callbacks import SqlAlchemyCallbackRepository
from persistence.history import SqlAlchemyHistoryRepository
from persistence.idempotency import SqlAlchemyIdempotencyRepository
from persistence.intents import SqlAlchemyIntentRepository
from persistence.invoices import SqlAlchemyInvoiceRepository
from persistence.ledger import SqlAlchemyLedgerRepository
from persistence.methods import SqlAlchemyMethodConfigRepository
from persistence.payments import SqlAlchemyPaymentRepository
from persistence.receipts import SqlAlchemyReceiptRepository
from persistence.refunds import SqlAlchemyRefundRepository
from persistence.schedule import SqlAlchemyPollSchedule
from persistence.sql import Pending

IntentChange = tuple[IntentId, int]
# The states announced for changed intents, at the versions of `changes`.
AnnouncedStates = Mapping[IntentId, PaymentStatus]


class ChangePublisher(Protocol):
    """Announces committed intent changes to subscribers (persistence/event_hub.py)."""

    async def in_transaction(
        self,
        connection: AsyncConnection,
        changes: Sequence[IntentChange],
        also: Pending | None = None,
        states: AnnouncedStates = ...,
    ) -> None:
        """Runs inside the transaction just before COMMIT (pg_notify). Sends
        `also` too, a write of the transaction not sent yet: first, or in
        the notification's statement (one round trip). `states` may ride
        along (persistence/pushes.py)."""
        ...

    async def after_commit(
        self, changes: Sequence[IntentChange], states: AnnouncedStates = ...
    ) -> None:
        """Runs once COMMIT succeeded (Redis, memory)."""
        ...


class SqlAlchemyUnitOfWork:
    """`async with uow:` takes a pooled connection; leaving it without commit()
    rolls back.

    With `autocommit`, no transaction: each statement commits on its own and
    the BEGIN and COMMIT (or ROLLBACK) round trips are saved. For the hot
    paths that only read (under READ COMMITTED each statement of a
    transaction sees its own snapshot anyway) or write one row; FOR UPDATE
    locks nothing past its statement, commit() is a no-op, rollback() undoes
    nothing, and recorded events are refused (history and notifications
    must commit with the change they describe)."""

    invoices: SqlAlchemyInvoiceRepository
    payments: SqlAlchemyPaymentRepository
    intents: SqlAlchemyIntentRepository
    idempotency: SqlAlchemyIdempotencyRepository
    receipts: SqlAlchemyReceiptRepository
    methods: SqlAlchemyMethodConfigRepository
    callbacks: SqlAlchemyCallbackRepository
    ledger: SqlAlchemyLedgerRepository
    history: SqlAlchemyHistoryRepository
    refunds: SqlAlchemyRefundRepository

    def __init__(
        self,
        engine: AsyncEngine,
        publisher: ChangePublisher | None = None,
        *,
        autocommit: bool = False,
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._autocommit = autocommit
        self._connection: AsyncConnection | None = None
        self._changes: dict[IntentId, int] = {}
        self._events: list[DomainEvent] = []
        self._states: dict[IntentId, PaymentStatus] = {}
        # Set when a statement was refused: the transaction is aborted.
        self._refused: str | None = None

    @property
    def connection(self) -> AsyncConnection:
        if self._connection is None:
            raise RuntimeError("unit of work used outside `async with`")
        return self._connection

    async def __aenter__(self) -> Self:
        connection = await self._engine.connect().start()
        if self._autocommit:
            # Client-side with asyncpg: no round trip; reset when pooled.
            connection = await connection.execution_options(
                isolation_level="AUTOCOMMIT"
            )
        self._connection = connection
        self._changes = {}
        self._events = []
        self._states = {}
        self._refused = None
        self.invoices = SqlAlchemyInvoiceRepository(connection, self._note_refused)
        self.payments = SqlAlchemyPaymentRepository(connection, self._note_refused)
        self.intents = SqlAlchemyIntentRepository(connection, self._note_refused)
        self.schedule = SqlAlchemyPollSchedule(connection)
        self.idempotency = SqlAlchemyIdempotencyRepository(connection)
        self.receipts = SqlAlchemyReceiptRepository(connection)
        self.methods = SqlAlchemyMethodConfigRepository(connection)
        self.callbacks = SqlAlchemyCallbackRepository(connection)
        self.ledger = SqlAlchemyLedgerRepository(connection)
        self.history = SqlAlchemyHistoryRepository(connection)
        self.refunds = SqlAlchemyRefundRepository(connection)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection = self.connection
        self._connection = None
        try:
            await connection.rollback()
        finally:
            await connection.close()

    def record(self, *events: DomainEvent) -> None:
        self._events.extend(events)
        for event in events:
            announced = announced_version(event)
            if announced is not None:
                intent_id, version = announced
                self._changes[intent_id] = max(
                    self._changes.get(intent_id, -1), version
                )

    def announce(self, status: PaymentStatus) -> None:
        self._states[status.intent.id] = status

    def _note_refused(self, what: str) -> None:
        self._refused = what

    async def commit(self) -> None:
        if self._refused is not None:
            refused, self._refused = self._refused, None
            await self.rollback()
            raise TransactionAborted(f"{refused}; nothing of this unit of work stored")
        if self._autocommit:
            if self._events or self._changes:
                raise RuntimeError(
                    "an autocommit unit of work cannot record events: "
                    "use a transaction for changes others are told about"
                )
            return
        changes = list(self._changes.items())
        states = {
            intent_id: status
            for intent_id, status in self._states.items()
            if self._changes.get(intent_id) == status.intent.version
        }
        events, self._changes, self._events = self._events, {}, []
        self._states = {}
        entries = history.entries(events)
        if events:
            changes.append((HISTORY_TOPIC, 0))
        if changes and self._publisher is not None:
            await self._publisher.in_transaction(
                self.connection, changes, entries, states
            )
        elif entries is not None:
            await self.connection.execute(*entries)
        await self.connection.commit()
        if changes and self._publisher is not None:
            await self._publisher.after_commit(changes, states)

    async def rollback(self) -> None:
        self._changes = {}
        self._events = []
        self._states = {}
        self._refused = None
        await self.connection.rollback()
