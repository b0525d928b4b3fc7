"""The GraphQL context: the services resolvers may call, and who is asking."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypeAlias
from uuid import UUID

import strawberry
from strawberry.dataloader import DataLoader

from domain.ebarimt import EbarimtReceipt
from domain.history import HistoryEntry
from domain.intents import QPayIntent
from domain.invoices import InvoiceId
from domain.payments import Payment, PaymentId
from domain.ports import Clock, PaymentGateway, UnitOfWorkFactory, Wakeup
from domain.refunds import Refund
from domain.services import queries
from domain.services.create_qpay_invoice import QPayInvoicePolicy


class Limiter(Protocol):
    def hit(self, key: str) -> bool:
        """Record one use of `key`; False when over its limit."""
        ...


class EventStream(Protocol):
    """The per-process event hub, as subscriptions see it."""

    def subscribe(
        self, intent_id: UUID
    ) -> AbstractContextManager[asyncio.Queue[Wakeup]]:
        """Register at once (no await), yield the queue, unregister on exit."""
        ...


@dataclass(frozen=True, slots=True)
class Viewer:
    """A verified staff token."""

    subject: str
    role: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Services:
    uow: UnitOfWorkFactory
    gateway: PaymentGateway
    clock: Clock
    qpay_policy: QPayInvoicePolicy
    hub: EventStream
    poll_interval_seconds: float
    # Builds the checkout page URL of an intent (None: no checkout page).
    checkout_url: Callable[[UUID, str], str] | None = None
    # Abuse brake on checkQPayPayment, per intent (None: unlimited).
    check_limiter: Limiter | None = None
    # Each subscription's own re-read, a last resort: the watch keeper
    # (app/watching.py) re-checks every watched intent's version every 10 s.
    resync_seconds: float = 300.0
    # Subscriptions reading the database at once (the rest wait their turn).
    reads: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(8))
    # The clinic's calendar (CLINIC_TIME_ZONE), for the day's close.
    clinic_time_zone: str = "Asia/Ulaanbaatar"
    # Units of work without a transaction, for a subscription's reads (the
    # payment path's hottest): None reads through `uow`.
    read_uow: UnitOfWorkFactory | None = None

    @property
    def reads_uow(self) -> UnitOfWorkFactory:
        return self.read_uow or self.uow


@dataclass(frozen=True, slots=True)
class Loaders:
    """One request's (or one socket's) batched reads for nested fields."""

    payments: DataLoader[InvoiceId, list[Payment]]
    intents: DataLoader[InvoiceId, list[QPayIntent]]
    receipts: DataLoader[PaymentId, EbarimtReceipt | None]
    history: DataLoader[InvoiceId, list[HistoryEntry]]
    refunds: DataLoader[PaymentId, list[Refund]]

    @classmethod
    def over(cls, uow: UnitOfWorkFactory) -> Loaders:
        async def payments(keys: list[InvoiceId]) -> list[list[Payment]]:
            return await queries.payments_by_invoice(keys, uow=uow)

        async def intents(keys: list[InvoiceId]) -> list[list[QPayIntent]]:
            return await queries.intents_by_invoice(keys, uow=uow)

        async def receipts(keys: list[PaymentId]) -> list[EbarimtReceipt | None]:
            return await queries.receipts_by_payment(keys, uow=uow)

        async def history(keys: list[InvoiceId]) -> list[list[HistoryEntry]]:
            return await queries.history_by_invoice(keys, uow=uow)

        async def refunds(keys: list[PaymentId]) -> list[list[Refund]]:
            return await queries.refunds_by_payment(keys, uow=uow)

        # cache=False: a websocket context lives for hours; every read is fresh.
        return cls(
            payments=DataLoader(load_fn=payments, cache=False),
            intents=DataLoader(load_fn=intents, cache=False),
            receipts=DataLoader(load_fn=receipts, cache=False),
            history=DataLoader(load_fn=history, cache=False),
            refunds=DataLoader(load_fn=refunds, cache=False),
        )


@dataclass
class Context:
    services: Services
    viewer: Viewer | None = None
    connection_params: dict[str, Any] | None = None
    protocol: Literal["http", "websocket"] = "http"
    client_address: str | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders.over(self.services.uow)


Info: TypeAlias = strawberry.Info[Context, None]


def actor_of(info: Info) -> str | None:
    """Who asks: the staff token's `sub`, recorded in the invoice's history."""
    viewer = info.context.viewer
    return viewer.subject if viewer is not None else None
