"""The unit of work: one AsyncSession, one transaction, explicit commit."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Protocol, Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.intents import IntentId
from persistence.repositories import (
    SqlAlchemyCallbackRepository,
    SqlAlchemyIdempotencyRepository,
    SqlAlchemyIntentRepository,
    SqlAlchemyInvoiceRepository,
    SqlAlchemyMethodConfigRepository,
    SqlAlchemyPaymentRepository,
    SqlAlchemyReceiptRepository,
)

IntentChange = tuple[IntentId, int]


class ChangePublisher(Protocol):
    """Announces committed intent changes to subscribers (persistence/events.py)."""

    async def in_transaction(
        self, session: AsyncSession, changes: Sequence[IntentChange]
    ) -> None:
        """Runs inside the transaction just before COMMIT (pg_notify)."""
        ...

    async def after_commit(self, changes: Sequence[IntentChange]) -> None:
        """Runs once COMMIT succeeded (Redis, memory)."""
        ...


class SqlAlchemyUnitOfWork:
    """`async with uow:` opens a session; leaving it without commit() rolls back."""

    invoices: SqlAlchemyInvoiceRepository
    payments: SqlAlchemyPaymentRepository
    intents: SqlAlchemyIntentRepository
    idempotency: SqlAlchemyIdempotencyRepository
    receipts: SqlAlchemyReceiptRepository
    methods: SqlAlchemyMethodConfigRepository
    callbacks: SqlAlchemyCallbackRepository

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        publisher: ChangePublisher | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._publisher = publisher
        self._session: AsyncSession | None = None
        self._changes: dict[IntentId, int] = {}

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside `async with`")
        return self._session

    async def __aenter__(self) -> Self:
        session = self._session_factory()
        self._session = session
        self._changes = {}
        self.invoices = SqlAlchemyInvoiceRepository(session)
        self.payments = SqlAlchemyPaymentRepository(session)
        self.intents = SqlAlchemyIntentRepository(session)
        self.idempotency = SqlAlchemyIdempotencyRepository(session)
        self.receipts = SqlAlchemyReceiptRepository(session)
        self.methods = SqlAlchemyMethodConfigRepository(session)
        self.callbacks = SqlAlchemyCallbackRepository(session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        self._session = None
        try:
            await session.rollback()
        finally:
            await session.close()

    def intent_changed(self, intent_id: IntentId, version: int) -> None:
        current = self._changes.get(intent_id, -1)
        self._changes[intent_id] = max(current, version)

    async def commit(self) -> None:
        changes = list(self._changes.items())
        self._changes = {}
        if changes and self._publisher is not None:
            await self._publisher.in_transaction(self.session, changes)
        await self.session.commit()
        if changes and self._publisher is not None:
            await self._publisher.after_commit(changes)

    async def rollback(self) -> None:
        self._changes = {}
        await self.session.rollback()
