"""FakeUnitOfWork: in-memory repositories for use-case tests (no database).

Writes are staged per unit of work and applied on commit, like a transaction;
locks are no-ops because these tests run one step at a time. It exists so the
use cases can be exercised in milliseconds; every race is also tested on real
PostgreSQL in tests/integration.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import Self
from uuid import UUID

from domain.callbacks import ReceivedCallback
from domain.ebarimt import EbarimtReceipt, EbarimtRequest, EbarimtStatus
from domain.errors import DomainError, ErrorCode
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
from domain.ports import DueIntent, DueReceipt, DuplicateQPayPayment, ReceiptMarked
from persistence.events import EventHub
from tests.fakes.clock import FixedClock


@dataclass
class IntentSecrets:
    client_hashes: list[str]
    callback_hash: str
    last_checked_at: datetime | None = None
    next_check_at: datetime | None = None
    watched_until: datetime | None = None
    check_count: int = 0
    leased_by: str | None = None


@dataclass
class FakeStore:
    clock: FixedClock
    invoices: dict[UUID, Invoice] = field(default_factory=dict)
    payments: dict[UUID, Payment] = field(default_factory=dict)
    intents: dict[UUID, QPayIntent] = field(default_factory=dict)
    secrets: dict[UUID, IntentSecrets] = field(default_factory=dict)
    keys: dict[str, IdempotencyRecord] = field(default_factory=dict)
    receipts: dict[UUID, tuple[EbarimtReceipt, IntentId]] = field(default_factory=dict)
    callbacks: list[ReceivedCallback] = field(default_factory=list)
    methods: dict[PaymentMethod, PaymentMethodConfig] = field(
        default_factory=lambda: {
            m: PaymentMethodConfig(m, True, m.value) for m in PaymentMethod
        }
    )
    numbers: int = 0
    notified: list[tuple[IntentId, int]] = field(default_factory=list)
    sweeps: dict[QPayEnvironment, FakeSweep] = field(default_factory=dict)
    receipt_leases: dict[UUID, FakeReceiptLease] = field(default_factory=dict)
    flags: dict[tuple[QPayEnvironment, LedgerFlagKind, str], LedgerFlag] = field(
        default_factory=dict
    )
    # Committed changes are delivered here too, like the real transports do.
    hub: EventHub | None = None


class _Repo:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    @property
    def w(self) -> FakeStore:
        return self._uow.working

    @property
    def now(self) -> datetime:
        return self._uow.store.clock.now()


class FakeInvoices(_Repo):
    async def add(self, invoice: Invoice) -> None:
        if any(i.number == invoice.number for i in self.w.invoices.values()):
            raise DomainError(
                ErrorCode.INVALID_INPUT, "number already used", "input.number"
            )
        self.w.invoices[invoice.id] = invoice

    async def get(self, invoice_id: InvoiceId) -> Invoice | None:
        return self.w.invoices.get(invoice_id)

    get_for_update = get

    async def update(self, invoice: Invoice) -> None:
        self.w.invoices[invoice.id] = invoice

    async def next_number(self) -> str:
        self.w.numbers += 1
        return f"INV-{self.w.numbers:06d}"

    async def list(
        self, *, status: InvoiceStatus | None, first: int, after: InvoiceId | None
    ) -> Sequence[Invoice]:
        found = sorted(self.w.invoices.values(), key=lambda i: i.id)
        return [i for i in found if status is None or i.status is status][:first]


class FakePayments(_Repo):
    async def add(self, payment: Payment) -> None:
        if payment.qpay_payment_id and any(
            p.qpay_payment_id == payment.qpay_payment_id
            for p in self.w.payments.values()
        ):
            raise DuplicateQPayPayment(payment.qpay_payment_id)
        self.w.payments[payment.id] = payment

    async def get(self, payment_id: UUID) -> Payment | None:
        return self.w.payments.get(payment_id)

    async def list_for_invoices(
        self, invoice_ids: Sequence[InvoiceId]
    ) -> Sequence[Payment]:
        return [p for p in self.w.payments.values() if p.invoice_id in invoice_ids]

    async def by_qpay_ids(self, qpay_payment_ids: Sequence[str]) -> dict[str, Payment]:
        return {
            p.qpay_payment_id: p
            for p in self.w.payments.values()
            if p.qpay_payment_id is not None and p.qpay_payment_id in qpay_payment_ids
        }

    async def qpay_payment_ids(self, invoice_id: InvoiceId) -> frozenset[str]:
        return frozenset(
            p.qpay_payment_id
            for p in self.w.payments.values()
            if p.invoice_id == invoice_id and p.qpay_payment_id
        )


class FakeIntents(_Repo):
    async def add(
        self, intent: QPayIntent, *, client_secret_hash: str, callback_token_hash: str
    ) -> None:
        self.w.intents[intent.id] = intent
        self.w.secrets[intent.id] = IntentSecrets(
            [client_secret_hash], callback_token_hash, next_check_at=self.now
        )

    async def get(self, intent_id: IntentId) -> QPayIntent | None:
        return self.w.intents.get(intent_id)

    get_for_update = get

    async def update(
        self, intent: QPayIntent, *, raw: Mapping[str, object] | None = None
    ) -> None:
        current = self.w.intents[intent.id]
        self.w.intents[intent.id] = replace(
            current,
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
        self.w.intents[intent.id] = intent
        self.w.secrets[intent.id].next_check_at = self.now + timedelta(
            seconds=first_check_in
        )

    async def remember_ebarimt(
        self, intent_id: IntentId, request: EbarimtRequest, *, overwrite: bool = False
    ) -> None:
        intent = self.w.intents[intent_id]
        if intent.ebarimt is None or overwrite:
            self.w.intents[intent_id] = replace(intent, ebarimt=request)

    async def list_for_invoices(
        self, invoice_ids: Sequence[InvoiceId]
    ) -> Sequence[QPayIntent]:
        return [
            i
            for i in self.w.intents.values()
            if i.invoice_id in invoice_ids and i.is_created
        ]

    async def list_open(self, environment: QPayEnvironment) -> Sequence[QPayIntent]:
        open_states = (IntentStatus.PENDING, IntentStatus.NEEDS_REVIEW)
        return [
            i
            for i in self.w.intents.values()
            if i.is_created and i.status in open_states and i.environment is environment
        ]

    async def list_creating(
        self, invoice_id: InvoiceId, amount: Decimal, environment: QPayEnvironment
    ) -> Sequence[QPayIntent]:
        return [
            i
            for i in self.w.intents.values()
            if i.invoice_id == invoice_id
            and i.amount == amount
            and i.status is IntentStatus.PENDING
            and i.environment is environment
        ]

    async def add_client_secret(self, intent_id: IntentId, secret_hash: str) -> None:
        self.w.secrets[intent_id].client_hashes.insert(0, secret_hash)

    async def secrets(self, intent_id: IntentId) -> SecretHashes | None:
        found = self.w.secrets.get(intent_id)
        intent = self.w.intents.get(intent_id)
        if found is None or intent is None:
            return None
        return SecretHashes(
            tuple(found.client_hashes),
            found.callback_hash,
            IntentRef(
                intent.id, intent.invoice_id, intent.qpay_invoice_id, intent.environment
            ),
        )

    async def mark_watched(
        self, intent_ids: Sequence[IntentId], seconds: float, poll_interval: float
    ) -> Sequence[tuple[IntentId, int]]:
        for intent_id in intent_ids:
            self.w.secrets[intent_id].watched_until = self.now + timedelta(
                seconds=seconds
            )
        return [
            (i, self.w.intents[i].version) for i in intent_ids if i in self.w.intents
        ]

    async def claim_due(
        self,
        owner: str,
        limit: int,
        lease_seconds: float,
        environment: QPayEnvironment,
    ) -> Sequence[DueIntent]:
        due: list[DueIntent] = []
        for intent in self.w.intents.values():
            s = self.w.secrets[intent.id]
            ready = s.next_check_at is None or s.next_check_at <= self.now
            if (
                intent.status is IntentStatus.PENDING
                and intent.is_created
                and intent.environment is environment
                and s.leased_by is None
                and ready
                and len(due) < limit
            ):
                s.leased_by = owner
                s.check_count += 1
                watched = s.watched_until is not None and s.watched_until > self.now
                due.append(
                    DueIntent(
                        intent.id, intent.expires_at <= self.now, watched, s.check_count
                    )
                )
        return due

    async def release(
        self, intent_id: IntentId, owner: str, delay_seconds: float
    ) -> None:
        s = self.w.secrets[intent_id]
        if s.leased_by == owner:
            s.leased_by = None
            s.next_check_at = self.now + timedelta(seconds=delay_seconds)

    async def refs_by_qpay_invoice(
        self, qpay_invoice_ids: Sequence[str], environment: QPayEnvironment
    ) -> dict[str, IntentRef]:
        found: dict[str, IntentRef] = {}
        for i in self.w.intents.values():
            qpay_id = i.qpay_invoice_id
            if (
                qpay_id is not None
                and qpay_id in qpay_invoice_ids
                and (i.environment is environment)
            ):
                found[qpay_id] = IntentRef(i.id, i.invoice_id, qpay_id, i.environment)
        return found

    async def claim_check(self, intent_id: IntentId, min_interval: float) -> bool:
        s = self.w.secrets[intent_id]
        if s.last_checked_at and s.last_checked_at > self.now - timedelta(
            seconds=min_interval
        ):
            return False
        s.last_checked_at = self.now
        return True


class FakeKeys(_Repo):
    async def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        existing = self.w.keys.get(record.key)
        if existing is None:
            self.w.keys[record.key] = record
        return existing

    async def complete(self, key: str, payment_id: UUID) -> None:
        self.w.keys[key] = replace(self.w.keys[key], payment_id=payment_id)


@dataclass
class FakeReceiptLease:
    owner: str | None = None
    until: datetime | None = None
    next_attempt_at: datetime | None = None
    uncertain: bool = False


class FakeReceipts(_Repo):
    async def add_pending(self, receipt: EbarimtReceipt, intent_id: IntentId) -> None:
        if all(r.payment_id != receipt.payment_id for r, _ in self.w.receipts.values()):
            self.w.receipts[receipt.id] = (receipt, intent_id)
            self.w.receipt_leases[receipt.id] = FakeReceiptLease()

    async def claim_due(
        self,
        limit: int,
        lease_seconds: float,
        environment: QPayEnvironment,
        owner: str,
    ) -> Sequence[DueReceipt]:
        due: list[DueReceipt] = []
        for receipt, intent_id in self.w.receipts.values():
            lease = self.w.receipt_leases[receipt.id]
            ready = lease.next_attempt_at is None or lease.next_attempt_at <= self.now
            free = lease.until is None or lease.until < self.now
            if (
                receipt.status is EbarimtStatus.PENDING
                and self.w.intents[intent_id].environment is environment
                and ready
                and free
                and len(due) < limit
            ):
                lease.owner = owner
                lease.until = self.now + timedelta(seconds=lease_seconds)
                payment = self.w.payments[receipt.payment_id]
                due.append(
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
        return due

    def _mine(self, receipt_id: UUID, owner: str) -> bool:
        receipt, _ = self.w.receipts[receipt_id]
        lease = self.w.receipt_leases[receipt_id]
        return receipt.status is EbarimtStatus.PENDING and lease.owner == owner

    async def mark_sending(self, receipt_id: UUID, owner: str) -> bool:
        if not self._mine(receipt_id, owner):
            return False
        self.w.receipt_leases[receipt_id].uncertain = True
        return True

    async def mark_issued(
        self, receipt_id: UUID, issued: IssuedReceipt, *, owner: str, now: datetime
    ) -> ReceiptMarked:
        if not self._mine(receipt_id, owner):
            return ReceiptMarked(applied=False)
        receipt, intent_id = self.w.receipts[receipt_id]
        self.w.receipts[receipt_id] = (
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
        self.w.receipt_leases[receipt_id] = FakeReceiptLease()
        return ReceiptMarked(True, self._touch(intent_id, now))

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
        if not self._mine(receipt_id, owner):
            return ReceiptMarked(applied=False)
        receipt, intent_id = self.w.receipts[receipt_id]
        status = EbarimtStatus.FAILED if retry_in is None else EbarimtStatus.PENDING
        self.w.receipts[receipt_id] = (
            replace(receipt, status=status, last_error=error, attempts=attempts),
            intent_id,
        )
        lease = self.w.receipt_leases[receipt_id]
        lease.owner = lease.until = None
        if uncertain is not None:
            lease.uncertain = uncertain
        if retry_in is not None:
            lease.next_attempt_at = self.now + timedelta(seconds=retry_in)
            return ReceiptMarked(applied=True)
        return ReceiptMarked(True, self._touch(intent_id, now))

    def _touch(self, intent_id: IntentId, now: datetime) -> int:
        touched = self.w.intents[intent_id].touched(now)
        self.w.intents[intent_id] = touched
        return touched.version

    async def list_for_payments(
        self, payment_ids: Sequence[UUID]
    ) -> Sequence[EbarimtReceipt]:
        return [r for r, _ in self.w.receipts.values() if r.payment_id in payment_ids]

    async def list_failed(
        self, environment: QPayEnvironment
    ) -> Sequence[EbarimtReceipt]:
        return [
            r
            for r, intent_id in self.w.receipts.values()
            if r.status is EbarimtStatus.FAILED
            and self.w.intents[intent_id].environment is environment
        ]


class FakeMethods(_Repo):
    async def list(self) -> Sequence[PaymentMethodConfig]:
        return list(self.w.methods.values())

    async def get(self, method: PaymentMethod) -> PaymentMethodConfig | None:
        return self.w.methods.get(method)


class FakeCallbacks(_Repo):
    async def add(self, callback: ReceivedCallback) -> None:
        self.w.callbacks.append(callback)


_TABLES = ("invoices", "payments", "intents", "keys", "receipts", "methods", "flags")


@dataclass
class FakeSweep:
    swept_until: datetime | None = None
    next_run_at: datetime | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None


class FakeLedger(_Repo):
    async def claim_sweep(
        self, environment: QPayEnvironment, owner: str, lease_seconds: float
    ) -> SweepClaim | None:
        sweep = self.w.sweeps.setdefault(environment, FakeSweep())
        if sweep.next_run_at is not None and sweep.next_run_at > self.now:
            return None
        if sweep.lease_until is not None and sweep.lease_until >= self.now:
            return None
        sweep.lease_owner = owner
        sweep.lease_until = self.now + timedelta(seconds=lease_seconds)
        created = [
            i.created_at
            for i in self.w.intents.values()
            if i.environment is environment and i.is_created
        ]
        return SweepClaim(sweep.swept_until, self.now, min(created, default=None))

    async def finish_sweep(
        self,
        environment: QPayEnvironment,
        owner: str,
        swept_until: datetime,
        next_in: float,
    ) -> None:
        sweep = self.w.sweeps[environment]
        if sweep.lease_owner == owner:
            sweep.swept_until = max(swept_until, sweep.swept_until or swept_until)
            self._release(sweep, next_in)

    async def release_sweep(
        self, environment: QPayEnvironment, owner: str, retry_in: float
    ) -> None:
        sweep = self.w.sweeps[environment]
        if sweep.lease_owner == owner:
            self._release(sweep, retry_in)

    def _release(self, sweep: FakeSweep, seconds: float) -> None:
        sweep.lease_owner = sweep.lease_until = None
        sweep.next_run_at = self.now + timedelta(seconds=seconds)

    async def sweep_state(self, environment: QPayEnvironment) -> SweepState:
        sweep = self.w.sweeps.get(environment)
        return SweepState(sweep.swept_until if sweep else None, self.now)

    async def raise_flag(
        self, environment: QPayEnvironment, flag: LedgerFlag, now: datetime
    ) -> bool:
        key = (environment, flag.kind, flag.qpay_payment_id)
        if key in self.w.flags:
            return False
        self.w.flags[key] = replace(flag, first_seen_at=now)
        return True

    async def open_flags(self, environment: QPayEnvironment) -> Sequence[LedgerFlag]:
        return [f for (env, _, _), f in self.w.flags.items() if env is environment]


class FakeUnitOfWork:
    """A transaction over a FakeStore: staged on enter, applied on commit."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.invoices = FakeInvoices(self)
        self.payments = FakePayments(self)
        self.intents = FakeIntents(self)
        self.idempotency = FakeKeys(self)
        self.receipts = FakeReceipts(self)
        self.methods = FakeMethods(self)
        self.callbacks = FakeCallbacks(self)
        self.ledger = FakeLedger(self)
        self.working = store

    async def __aenter__(self) -> Self:
        working = copy.copy(self.store)
        for name in _TABLES:
            setattr(working, name, dict(getattr(self.store, name)))
        working.secrets = copy.deepcopy(self.store.secrets)
        working.sweeps = copy.deepcopy(self.store.sweeps)
        working.receipt_leases = copy.deepcopy(self.store.receipt_leases)
        working.callbacks = list(self.store.callbacks)
        self.working = working
        self._changes: dict[IntentId, int] = {}
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.working = self.store

    async def commit(self) -> None:
        for name in (
            *_TABLES,
            "secrets",
            "sweeps",
            "receipt_leases",
            "callbacks",
            "numbers",
        ):
            setattr(self.store, name, getattr(self.working, name))
        self.store.notified.extend(self._changes.items())
        if self.store.hub is not None:
            for intent_id, version in self._changes.items():
                self.store.hub.deliver(intent_id, version)
        self._changes = {}

    async def rollback(self) -> None:
        await self.__aenter__()

    def intent_changed(self, intent_id: IntentId, version: int) -> None:
        self._changes[intent_id] = max(version, self._changes.get(intent_id, -1))


def invoice_status_counts(store: FakeStore) -> dict[InvoiceStatus, int]:
    counts: dict[InvoiceStatus, int] = {}
    for invoice in store.invoices.values():
        counts[invoice.status] = counts.get(invoice.status, 0) + 1
    return counts
