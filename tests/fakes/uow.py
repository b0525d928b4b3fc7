"""FakeUnitOfWork: in-memory repositories for use-case tests (no database).

It models what the SQL behind SqlAlchemyUnitOfWork does, as far as the use
cases can tell; tests/integration/test_uow_contract.py runs one contract suite
against both, so the two cannot drift apart:

- Transactions at READ COMMITTED. A unit of work reads the committed rows with
  its own writes on top: another's commit shows at once, its uncommitted
  writes never. commit() applies the writes row by row and begins a new
  transaction (as the connection does); leaving `async with` discards them.
- Row locks. A write, get_for_update and a new unique key lock their row until
  the transaction ends; another transaction that needs the row waits for that
  (an await), and the claims pass over rows others hold (FOR UPDATE SKIP
  LOCKED). Waiting on a row that an open unit of work of the same task holds
  raises instead of hanging as it would on PostgreSQL.
- The database clock. now() is the FixedClock's time when the transaction
  began, as PostgreSQL's now() is; leases lapse, delays pass with the clock.
- Sequences. next_number() is never rolled back.
- Failed statements. After a unique key refuses a row (DuplicateQPayPayment,
  a used invoice number) the transaction is aborted: other statements raise,
  commit() rolls back and raises TransactionAborted.

Not modelled: foreign keys, check constraints and deadlock detection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import Generic, Self, TypeVar
from uuid import UUID

from domain.callbacks import ReceivedCallback
from domain.ebarimt import EbarimtReceipt, EbarimtRequest, EbarimtStatus
from domain.errors import DomainError, ErrorCode, Subject
from domain.events import DomainEvent, announced_version
from domain.gateway import IssuedReceipt, QPayEnvironment
from domain.idempotency import IdempotencyRecord
from domain.intents import IntentId, IntentRef, IntentStatus, QPayIntent
from domain.intents import IntentSecrets as SecretHashes
from domain.invoices import (
    Invoice,
    InvoiceId,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentMethodConfig,
)
from domain.ledger import LedgerFlag, LedgerFlagKind, SweepClaim, SweepState
from domain.ports import (
    DueIntent,
    DueReceipt,
    DuplicateQPayPayment,
    ReceiptMarked,
    TransactionAborted,
)
from persistence.events import EventHub
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
    methods: dict[PaymentMethod, PaymentMethodConfig] = field(
        default_factory=lambda: {
            m: PaymentMethodConfig(m, True, m.value) for m in PaymentMethod
        }
    )
    numbers: int = 0
    notified: list[tuple[IntentId, int]] = field(default_factory=list)
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

    def get(self, key: K) -> V | None:
        return self.written[key] if key in self.written else self.committed.get(key)

    def __getitem__(self, key: K) -> V:
        return self.written[key] if key in self.written else self.committed[key]

    def __setitem__(self, key: K, value: V) -> None:
        self.written[key] = value

    def __contains__(self, key: K) -> bool:
        return key in self.written or key in self.committed

    def items(self) -> list[tuple[K, V]]:
        return list({**self.committed, **self.written}.items())

    def values(self) -> list[V]:
        return [value for _, value in self.items()]

    def apply(self) -> None:
        self.committed.update(self.written)
        self.written = {}


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
        self.callbacks: list[ReceivedCallback] = []
        self.changes: dict[IntentId, int] = {}
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
        ):
            rows.apply()
        store.callbacks.extend(self.callbacks)


def _free(lease_until: datetime | None, now: datetime) -> bool:
    return lease_until is None or lease_until < now


class _Repo:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    @property
    def tx(self) -> Transaction:
        tx = self._uow.tx
        if tx.aborted is not None:
            raise RuntimeError(
                f"current transaction is aborted ({tx.aborted}): roll back first"
            )
        return tx

    @property
    def now(self) -> datetime:
        """The database clock: the time the transaction began."""
        tx = self.tx
        if tx.started_at is None:
            tx.started_at = self._uow.store.clock.now()
        return tx.started_at

    async def lock(self, table: str, key: Hashable) -> None:
        await self._uow.lock((table, key))

    def locked_by_others(self, table: str, key: Hashable) -> bool:
        holder = self._uow.store.locks.get((table, key))
        return holder is not None and holder is not self.tx

    async def locked_intent(self, intent_id: IntentId) -> IntentSecrets | None:
        """Lock the intent's row; its poller state (None: no such row)."""
        await self.lock("intents", intent_id)
        return self.tx.secrets.get(intent_id)


class FakeInvoices(_Repo):
    async def add(self, invoice: Invoice) -> None:
        await self.lock("invoice_numbers", invoice.number)
        if any(i.number == invoice.number for i in self.tx.invoices.values()):
            self.tx.aborted = "duplicate invoice number"
            raise DomainError(
                ErrorCode.INVALID_INPUT, "number already used", Subject.NUMBER
            )
        await self.lock("invoices", invoice.id)
        self.tx.invoices[invoice.id] = invoice

    async def get(self, invoice_id: InvoiceId) -> Invoice | None:
        return self.tx.invoices.get(invoice_id)

    async def get_for_update(self, invoice_id: InvoiceId) -> Invoice | None:
        if invoice_id not in self.tx.invoices:
            return None
        await self.lock("invoices", invoice_id)
        return self.tx.invoices.get(invoice_id)

    async def update(self, invoice: Invoice) -> None:
        await self.lock("invoices", invoice.id)
        if invoice.id in self.tx.invoices:
            self.tx.invoices[invoice.id] = invoice

    async def next_number(self) -> str:
        self._uow.store.numbers += 1  # a sequence: never rolled back
        return f"INV-{self._uow.store.numbers:06d}"

    async def list(
        self, *, status: InvoiceStatus | None, first: int, after: InvoiceId | None
    ) -> Sequence[Invoice]:
        found = sorted(self.tx.invoices.values(), key=lambda i: i.id)
        return [
            i
            for i in found
            if (status is None or i.status is status)
            and (after is None or i.id > after)
        ][:first]


class FakePayments(_Repo):
    async def add(self, payment: Payment) -> None:
        qpay_id = payment.qpay_payment_id
        if qpay_id is not None:
            # A unique key: wait for a transaction inserting the same one.
            await self.lock("payment_qpay_ids", qpay_id)
            if any(p.qpay_payment_id == qpay_id for p in self.tx.payments.values()):
                self.tx.aborted = "duplicate QPay payment"
                raise DuplicateQPayPayment(qpay_id)
        await self.lock("payments", payment.id)
        self.tx.payments[payment.id] = payment

    async def get(self, payment_id: UUID) -> Payment | None:
        return self.tx.payments.get(payment_id)

    async def list_for_invoices(
        self, invoice_ids: Sequence[InvoiceId]
    ) -> Sequence[Payment]:
        return sorted(
            (p for p in self.tx.payments.values() if p.invoice_id in invoice_ids),
            key=lambda p: (p.created_at, p.id),
        )

    async def by_qpay_ids(self, qpay_payment_ids: Sequence[str]) -> dict[str, Payment]:
        return {
            p.qpay_payment_id: p
            for p in self.tx.payments.values()
            if p.qpay_payment_id is not None and p.qpay_payment_id in qpay_payment_ids
        }

    async def qpay_payment_ids(self, invoice_id: InvoiceId) -> frozenset[str]:
        return frozenset(
            p.qpay_payment_id
            for p in self.tx.payments.values()
            if p.invoice_id == invoice_id and p.qpay_payment_id
        )


class FakeIntents(_Repo):
    async def add(
        self, intent: QPayIntent, *, client_secret_hash: str, callback_token_hash: str
    ) -> None:
        await self.lock("intents", intent.id)
        self.tx.intents[intent.id] = intent
        self.tx.secrets[intent.id] = IntentSecrets(
            (client_secret_hash,), callback_token_hash, next_check_at=self.now
        )

    async def get(self, intent_id: IntentId) -> QPayIntent | None:
        return self.tx.intents.get(intent_id)

    async def get_watched(self, intent_id: IntentId) -> tuple[QPayIntent, bool] | None:
        intent = self.tx.intents.get(intent_id)
        if intent is None:
            return None
        pending = any(
            owner == intent_id and receipt.status is EbarimtStatus.PENDING
            for receipt, owner in self.tx.receipts.values()
        )
        return intent, pending

    async def get_for_update(self, intent_id: IntentId) -> QPayIntent | None:
        if intent_id not in self.tx.intents:
            return None
        await self.lock("intents", intent_id)
        return self.tx.intents.get(intent_id)

    async def update(
        self, intent: QPayIntent, *, raw: Mapping[str, object] | None = None
    ) -> None:
        if await self.locked_intent(intent.id) is None:
            return
        self.tx.intents[intent.id] = replace(
            self.tx.intents[intent.id],
            status=intent.status,
            paid_amount=intent.paid_amount,
            qpay_payment_id=intent.qpay_payment_id,
            version=intent.version,
            last_error=intent.last_error,
            updated_at=intent.updated_at,
        )

    async def record_qpay_invoice(
        self, intent: QPayIntent, *, raw: Mapping[str, object], first_check_in: float
    ) -> None:
        state = await self.locked_intent(intent.id)
        if state is None:
            return
        self.tx.intents[intent.id] = replace(
            self.tx.intents[intent.id],
            qpay_invoice_id=intent.qpay_invoice_id,
            qr_text=intent.qr_text,
            qr_image=intent.qr_image,
            short_url=intent.short_url,
            deeplinks=intent.deeplinks,
            updated_at=intent.updated_at,
        )
        self.tx.secrets[intent.id] = replace(
            state, next_check_at=self.now + timedelta(seconds=first_check_in)
        )

    async def remember_ebarimt(
        self, intent_id: IntentId, request: EbarimtRequest, *, overwrite: bool = False
    ) -> None:
        if await self.locked_intent(intent_id) is None:
            return
        intent = self.tx.intents[intent_id]
        if intent.ebarimt is None or overwrite:
            self.tx.intents[intent_id] = replace(intent, ebarimt=request)

    async def list_for_invoices(
        self, invoice_ids: Sequence[InvoiceId]
    ) -> Sequence[QPayIntent]:
        found = sorted(
            (
                i
                for i in self.tx.intents.values()
                if i.invoice_id in invoice_ids and i.is_created
            ),
            key=lambda i: i.id,
        )
        return sorted(found, key=lambda i: i.created_at, reverse=True)

    async def list_open(self, environment: QPayEnvironment) -> Sequence[QPayIntent]:
        open_states = (IntentStatus.PENDING, IntentStatus.NEEDS_REVIEW)
        return sorted(
            (
                i
                for i in self.tx.intents.values()
                if i.is_created
                and i.status in open_states
                and i.environment is environment
            ),
            key=lambda i: i.created_at,
        )

    async def list_creating(
        self, invoice_id: InvoiceId, amount: Decimal, environment: QPayEnvironment
    ) -> Sequence[QPayIntent]:
        return [
            i
            for i in self.tx.intents.values()
            if i.invoice_id == invoice_id
            and i.amount == amount
            and i.status is IntentStatus.PENDING
            and i.environment is environment
        ]

    async def add_client_secret(self, intent_id: IntentId, secret_hash: str) -> None:
        state = await self.locked_intent(intent_id)
        if state is not None:
            # The newest eight, as the SQL keeps them.
            hashes = (secret_hash, *state.client_hashes[:7])
            self.tx.secrets[intent_id] = replace(state, client_hashes=hashes)

    async def secrets(self, intent_id: IntentId) -> SecretHashes | None:
        found = self.tx.secrets.get(intent_id)
        intent = self.tx.intents.get(intent_id)
        if found is None or intent is None:
            return None
        return SecretHashes(
            found.client_hashes,
            found.callback_hash,
            IntentRef(
                intent.id, intent.invoice_id, intent.qpay_invoice_id, intent.environment
            ),
        )

    async def refs_by_qpay_invoice(
        self, qpay_invoice_ids: Sequence[str], environment: QPayEnvironment
    ) -> dict[str, IntentRef]:
        found: dict[str, IntentRef] = {}
        for i in self.tx.intents.values():
            qpay_id = i.qpay_invoice_id
            if (
                qpay_id is not None
                and qpay_id in qpay_invoice_ids
                and (i.environment is environment)
            ):
                found[qpay_id] = IntentRef(i.id, i.invoice_id, qpay_id, i.environment)
        return found


class FakeSchedule(_Repo):
    """The polling schedule over the intents' poller state (FakeStore.secrets)."""

    async def mark_watched(
        self, intent_ids: Sequence[IntentId], seconds: float, poll_interval: float
    ) -> Sequence[tuple[IntentId, int]]:
        marked: list[tuple[IntentId, int]] = []
        for intent_id in intent_ids:
            state = await self.locked_intent(intent_id)
            if state is None:
                continue
            self.tx.secrets[intent_id] = replace(
                state,
                watched_until=self.now + timedelta(seconds=seconds),
                next_check_at=min(
                    state.next_check_at, self.now + timedelta(seconds=poll_interval)
                ),
            )
            marked.append((intent_id, self.tx.intents[intent_id].version))
        return marked

    async def claim_due(
        self,
        owner: str,
        limit: int,
        lease_seconds: float,
        environment: QPayEnvironment,
    ) -> Sequence[DueIntent]:
        now = self.now
        due = sorted(
            (
                (self.tx.secrets[i.id], i)
                for i in self.tx.intents.values()
                if i.status is IntentStatus.PENDING
                and i.is_created
                and i.environment is environment
                and not self.locked_by_others("intents", i.id)
            ),
            key=lambda pair: pair[0].next_check_at,
        )
        claimed: list[DueIntent] = []
        for state, intent in due:
            if len(claimed) == limit:
                break
            if state.next_check_at > now or not _free(state.lease_until, now):
                continue
            await self.lock("intents", intent.id)  # free: nobody else holds it
            leased = replace(
                state,
                leased_by=owner,
                lease_until=now + timedelta(seconds=lease_seconds),
                check_count=state.check_count + 1,
            )
            self.tx.secrets[intent.id] = leased
            claimed.append(
                DueIntent(
                    intent.id,
                    expired=intent.expires_at <= now,
                    watched=leased.watched_until is not None
                    and leased.watched_until > now,
                    check_count=leased.check_count,
                    lag_seconds=(now - state.next_check_at).total_seconds(),
                )
            )
        return claimed

    async def release(
        self, intent_id: IntentId, owner: str, delay_seconds: float
    ) -> None:
        state = await self.locked_intent(intent_id)
        if state is not None and state.leased_by == owner:
            self.tx.secrets[intent_id] = replace(
                state,
                leased_by=None,
                lease_until=None,
                next_check_at=self.now + timedelta(seconds=delay_seconds),
            )

    async def claim_check(self, intent_id: IntentId, min_interval: float) -> bool:
        state = await self.locked_intent(intent_id)
        if state is None:
            return False
        last = state.last_checked_at
        if last is not None and last > self.now - timedelta(seconds=min_interval):
            return False
        self.tx.secrets[intent_id] = replace(state, last_checked_at=self.now)
        return True


class FakeKeys(_Repo):
    async def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        # The key is unique: wait for a transaction inserting the same one.
        await self.lock("keys", record.key)
        existing = self.tx.keys.get(record.key)
        if existing is None:
            self.tx.keys[record.key] = record
        return existing

    async def complete(self, key: str, payment_id: UUID) -> None:
        await self.lock("keys", key)
        existing = self.tx.keys.get(key)
        if existing is not None:
            self.tx.keys[key] = replace(existing, payment_id=payment_id)


class FakeReceipts(_Repo):
    async def add_pending(self, receipt: EbarimtReceipt, intent_id: IntentId) -> None:
        # One receipt per payment (a unique key): the second is not stored.
        await self.lock("receipt_payments", receipt.payment_id)
        if all(
            r.payment_id != receipt.payment_id for r, _ in self.tx.receipts.values()
        ):
            await self.lock("receipts", receipt.id)
            self.tx.receipts[receipt.id] = (receipt, intent_id)
            self.tx.receipt_leases[receipt.id] = FakeReceiptLease(self.now)

    async def claim_due(
        self,
        limit: int,
        lease_seconds: float,
        environment: QPayEnvironment,
        owner: str,
    ) -> Sequence[DueReceipt]:
        now = self.now
        due = sorted(
            (
                (self.tx.receipt_leases[receipt.id], receipt, intent_id)
                for receipt, intent_id in self.tx.receipts.values()
                if receipt.status is EbarimtStatus.PENDING
                and self.tx.intents[intent_id].environment is environment
                and not self.locked_by_others("receipts", receipt.id)
            ),
            key=lambda found: found[0].next_attempt_at,
        )
        claimed: list[DueReceipt] = []
        for lease, receipt, intent_id in due:
            if len(claimed) == limit:
                break
            if lease.next_attempt_at > now or not _free(lease.until, now):
                continue
            await self.lock("receipts", receipt.id)  # free: nobody else holds it
            self.tx.receipt_leases[receipt.id] = replace(
                lease, owner=owner, until=now + timedelta(seconds=lease_seconds)
            )
            payment = self.tx.payments[receipt.payment_id]
            claimed.append(
                DueReceipt(
                    receipt.id,
                    receipt.payment_id,
                    intent_id,
                    payment.qpay_payment_id or "",
                    receipt.receiver_type,
                    receipt.receiver,
                    receipt.attempts,
                    uncertain=lease.uncertain,
                )
            )
        return claimed

    async def _mine(self, receipt_id: UUID, owner: str) -> bool:
        """Lock the row; whether it is still PENDING and leased by `owner`."""
        await self.lock("receipts", receipt_id)
        found = self.tx.receipts.get(receipt_id)
        return (
            found is not None
            and found[0].status is EbarimtStatus.PENDING
            and self.tx.receipt_leases[receipt_id].owner == owner
        )

    async def mark_sending(self, receipt_id: UUID, owner: str) -> bool:
        if not await self._mine(receipt_id, owner):
            return False
        lease = self.tx.receipt_leases[receipt_id]
        self.tx.receipt_leases[receipt_id] = replace(lease, uncertain=True)
        return True

    async def mark_issued(
        self, receipt_id: UUID, issued: IssuedReceipt, *, owner: str, now: datetime
    ) -> ReceiptMarked:
        if not await self._mine(receipt_id, owner):
            return ReceiptMarked(applied=False)
        receipt, intent_id = self.tx.receipts[receipt_id]
        self.tx.receipts[receipt_id] = (
            replace(
                receipt,
                status=EbarimtStatus.ISSUED,
                lottery=issued.lottery,
                qr_data=issued.qr_data,
                last_error=None,
                attempts=receipt.attempts + 1,
            ),
            intent_id,
        )
        lease = self.tx.receipt_leases[receipt_id]
        self.tx.receipt_leases[receipt_id] = replace(
            lease, owner=None, until=None, uncertain=False
        )
        return ReceiptMarked(True, await self._touch(intent_id, now))

    async def mark_failed(
        self,
        receipt_id: UUID,
        error: str,
        *,
        owner: str,
        attempts: int,
        retry_in: float | None,
        uncertain: bool | None,
        now: datetime,
    ) -> ReceiptMarked:
        if not await self._mine(receipt_id, owner):
            return ReceiptMarked(applied=False)
        receipt, intent_id = self.tx.receipts[receipt_id]
        status = EbarimtStatus.FAILED if retry_in is None else EbarimtStatus.PENDING
        self.tx.receipts[receipt_id] = (
            replace(receipt, status=status, last_error=error, attempts=attempts),
            intent_id,
        )
        lease = replace(self.tx.receipt_leases[receipt_id], owner=None, until=None)
        if uncertain is not None:
            lease = replace(lease, uncertain=uncertain)
        if retry_in is not None:
            lease = replace(
                lease, next_attempt_at=self.now + timedelta(seconds=retry_in)
            )
        self.tx.receipt_leases[receipt_id] = lease
        if retry_in is not None:
            return ReceiptMarked(applied=True)
        return ReceiptMarked(True, await self._touch(intent_id, now))

    async def _touch(self, intent_id: IntentId, now: datetime) -> int:
        await self.lock("intents", intent_id)
        touched = self.tx.intents[intent_id].touched(now)
        self.tx.intents[intent_id] = touched
        return touched.version

    async def list_for_payments(
        self, payment_ids: Sequence[UUID]
    ) -> Sequence[EbarimtReceipt]:
        return [r for r, _ in self.tx.receipts.values() if r.payment_id in payment_ids]

    async def list_failed(
        self, environment: QPayEnvironment
    ) -> Sequence[EbarimtReceipt]:
        return sorted(
            (
                r
                for r, intent_id in self.tx.receipts.values()
                if r.status is EbarimtStatus.FAILED
                and self.tx.intents[intent_id].environment is environment
            ),
            key=lambda r: r.created_at,
        )


class FakeMethods(_Repo):
    async def list(self) -> Sequence[PaymentMethodConfig]:
        return list(self._uow.store.methods.values())

    async def get(self, method: PaymentMethod) -> PaymentMethodConfig | None:
        return self._uow.store.methods.get(method)


class FakeCallbacks(_Repo):
    async def add(self, callback: ReceivedCallback) -> None:
        self.tx.callbacks.append(callback)


class FakeLedger(_Repo):
    async def claim_sweep(
        self, environment: QPayEnvironment, owner: str, lease_seconds: float
    ) -> SweepClaim | None:
        await self.lock("sweeps", environment)
        now = self.now
        sweep = self.tx.sweeps.get(environment) or FakeSweep(next_run_at=now)
        self.tx.sweeps[environment] = sweep
        if sweep.next_run_at > now or not _free(sweep.lease_until, now):
            return None
        self.tx.sweeps[environment] = replace(
            sweep, lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds)
        )
        created = [
            i.created_at
            for i in self.tx.intents.values()
            if i.environment is environment and i.is_created
        ]
        return SweepClaim(sweep.swept_until, now, min(created, default=None))

    async def finish_sweep(
        self,
        environment: QPayEnvironment,
        owner: str,
        swept_until: datetime,
        next_in: float,
    ) -> None:
        sweep = await self._mine(environment, owner)
        if sweep is not None:
            # Never backwards: a slow sweep finishing after a newer one.
            until = max(swept_until, sweep.swept_until or swept_until)
            self._release(environment, replace(sweep, swept_until=until), next_in)

    async def release_sweep(
        self, environment: QPayEnvironment, owner: str, retry_in: float
    ) -> None:
        sweep = await self._mine(environment, owner)
        if sweep is not None:
            self._release(environment, sweep, retry_in)

    async def _mine(self, environment: QPayEnvironment, owner: str) -> FakeSweep | None:
        await self.lock("sweeps", environment)
        sweep = self.tx.sweeps.get(environment)
        return sweep if sweep is not None and sweep.lease_owner == owner else None

    def _release(
        self, environment: QPayEnvironment, sweep: FakeSweep, seconds: float
    ) -> None:
        self.tx.sweeps[environment] = replace(
            sweep,
            lease_owner=None,
            lease_until=None,
            next_run_at=self.now + timedelta(seconds=seconds),
        )

    async def sweep_state(self, environment: QPayEnvironment) -> SweepState:
        sweep = self.tx.sweeps.get(environment)
        return SweepState(sweep.swept_until if sweep else None, self.now)

    async def raise_flag(
        self, environment: QPayEnvironment, flag: LedgerFlag, now: datetime
    ) -> bool:
        key = (environment, flag.kind, flag.qpay_payment_id)
        await self.lock("flags", key)
        seen = self.tx.flags.get(key)
        if seen is not None:
            # Seen again: only the detail (and when it was last seen) changes.
            self.tx.flags[key] = replace(seen, detail=flag.detail)
            return False
        self.tx.flags[key] = replace(flag, first_seen_at=now)
        return True

    async def open_flags(self, environment: QPayEnvironment) -> Sequence[LedgerFlag]:
        return sorted(
            (f for (env, _, _), f in self.tx.flags.items() if env is environment),
            key=lambda f: f.first_seen_at or self.now,
        )


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
        tx.apply(self.store)
        self._end()
        self._tx = Transaction(self.store)  # the connection begins anew
        self.store.notified.extend(tx.changes.items())
        if self.store.hub is not None:
            for intent_id, version in tx.changes.items():
                self.store.hub.deliver(intent_id, version)

    async def rollback(self) -> None:
        self._end()
        self._tx = Transaction(self.store)

    def record(self, *events: DomainEvent) -> None:
        changes = self.tx.changes
        for event in events:
            announced = announced_version(event)
            if announced is not None:
                intent_id, version = announced
                changes[intent_id] = max(version, changes.get(intent_id, -1))

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
