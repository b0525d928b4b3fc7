"""The committed state of the fake database, and one transaction over it."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from domain.callbacks import ReceivedCallback
from domain.ebarimt import EbarimtReceipt
from domain.events import DomainEvent
from domain.history import HistoryEntry
from domain.idempotency import IdempotencyRecord
from domain.intents import IntentId, QPayIntent
from domain.invoices import Invoice
from domain.ledger import LedgerFlag, LedgerFlagKind
from domain.payments import Payment, PaymentMethod, PaymentMethodConfig
from domain.qpay_messages import QPayEnvironment
from domain.refunds import Refund
from domain.status import PaymentStatus
from persistence.event_hub import EventHub
from tests.fakes.clock import FixedClock

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
LockKey = tuple[str, Hashable]
FlagKey = tuple[QPayEnvironment, LedgerFlagKind, str]


@dataclass(frozen=True)
class IntentSecrets:
    """The columns of an intent row that QPayIntent does not carry."""

    client_hashes: tuple[str, ...]
    callback_hash: str
    next_check_at: datetime
    last_checked_at: datetime | None = None
    watched_until: datetime | None = None
    check_count: int = 0
    leased_by: str | None = None
    lease_until: datetime | None = None


@dataclass(frozen=True)
class FakeReceiptLease:
    """The columns of a receipt row that EbarimtReceipt does not carry."""

    next_attempt_at: datetime
    owner: str | None = None
    until: datetime | None = None
    uncertain: bool = False
    # QPay's receipt id, once issued (the row's ebarimt_id).
    ebarimt_id: str | None = None


@dataclass(frozen=True)
class FakeSweep:
    next_run_at: datetime
    swept_until: datetime | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None


@dataclass
class FakeStore:
    """The committed state, and the row locks of the open transactions."""

    clock: FixedClock
    invoices: dict[UUID, Invoice] = field(default_factory=dict)
    payments: dict[UUID, Payment] = field(default_factory=dict)
    intents: dict[UUID, QPayIntent] = field(default_factory=dict)
    secrets: dict[UUID, IntentSecrets] = field(default_factory=dict)
    keys: dict[str, IdempotencyRecord] = field(default_factory=dict)
    receipts: dict[UUID, tuple[EbarimtReceipt, IntentId]] = field(default_factory=dict)
    receipt_leases: dict[UUID, FakeReceiptLease] = field(default_factory=dict)
    sweeps: dict[QPayEnvironment, FakeSweep] = field(default_factory=dict)
    flags: dict[FlagKey, LedgerFlag] = field(default_factory=dict)
    callbacks: list[ReceivedCallback] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    refunds: dict[UUID, Refund] = field(default_factory=dict)
    methods: dict[PaymentMethod, PaymentMethodConfig] = field(
        default_factory=lambda: {
            m: PaymentMethodConfig(m, True, m.value) for m in PaymentMethod
        }
    )
    numbers: int = 0
    notified: list[tuple[IntentId, int]] = field(default_factory=list)
    # The states announced with them (UnitOfWork.announce), in order.
    pushed: list[PaymentStatus] = field(default_factory=list)
    # Committed changes are delivered here too, like the real transports do.
    hub: EventHub | None = None
    locks: dict[LockKey, Transaction] = field(default_factory=dict)
    # How many transactions are waiting for a row lock right now.
    lock_waits: int = 0


class Rows(Generic[K, V]):
    """One table as a transaction sees it: the committed rows with its own
    uncommitted writes on top."""

    def __init__(self, committed: dict[K, V]) -> None:
        self.committed = committed
        self.written: dict[K, V] = {}
        self.removed: set[K] = set()

    def get(self, key: K) -> V | None:
        if key in self.removed:
            return None
        return self.written[key] if key in self.written else self.committed.get(key)

    def __getitem__(self, key: K) -> V:
        if key in self.removed:
            raise KeyError(key)
        return self.written[key] if key in self.written else self.committed[key]

    def __setitem__(self, key: K, value: V) -> None:
        self.removed.discard(key)
        self.written[key] = value

    def __delitem__(self, key: K) -> None:
        self.written.pop(key, None)
        self.removed.add(key)

    def __contains__(self, key: K) -> bool:
        if key in self.removed:
            return False
        return key in self.written or key in self.committed

    def items(self) -> list[tuple[K, V]]:
        merged = {**self.committed, **self.written}
        return [(k, v) for k, v in merged.items() if k not in self.removed]

    def values(self) -> list[V]:
        return [value for _, value in self.items()]

    def apply(self) -> None:
        self.committed.update(self.written)
        for key in self.removed:
            self.committed.pop(key, None)
        self.written = {}
        self.removed = set()


class Transaction:
    """One transaction's writes, locks and start time."""

    def __init__(self, store: FakeStore) -> None:
        self.invoices = Rows(store.invoices)
        self.payments = Rows(store.payments)
        self.intents = Rows(store.intents)
        self.secrets = Rows(store.secrets)
        self.keys = Rows(store.keys)
        self.receipts = Rows(store.receipts)
        self.receipt_leases = Rows(store.receipt_leases)
        self.sweeps = Rows(store.sweeps)
        self.flags = Rows(store.flags)
        self.refunds = Rows(store.refunds)
        self.callbacks: list[ReceivedCallback] = []
        self.changes: dict[IntentId, int] = {}
        self.events: list[DomainEvent] = []
        self.states: dict[IntentId, PaymentStatus] = {}
        self.started_at: datetime | None = None
        # Why a statement failed: PostgreSQL then refuses every other one
        # until the end, and COMMIT only rolls back.
        self.aborted: str | None = None
        self.locks: list[LockKey] = []
        self.ended = asyncio.Event()
        self.task = asyncio.current_task()

    def apply(self, store: FakeStore) -> None:
        for rows in (
            self.invoices,
            self.payments,
            self.intents,
            self.secrets,
            self.keys,
            self.receipts,
            self.receipt_leases,
            self.sweeps,
            self.flags,
            self.refunds,
        ):
            rows.apply()
        store.callbacks.extend(self.callbacks)
