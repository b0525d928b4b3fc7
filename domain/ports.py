"""Ports: what the use cases need from the outside, as Protocols.

Adapters live elsewhere (persistence/ for the unit of work and repositories,
qpay/ for the gateway); tests use fakes with the same shape.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from domain.callbacks import ReceivedCallback
from domain.ebarimt import EbarimtReceipt, EbarimtReceiverType, EbarimtRequest
from domain.events import DomainEvent
from domain.history import HistoryEntry
from domain.idempotency import IdempotencyRecord
from domain.intents import (
    IntentId,
    IntentRef,
    IntentSecrets,
    IntentStatus,
    QPayIntent,
)
from domain.invoices import Invoice, InvoiceId, InvoiceStatus
from domain.ledger import LedgerFlag, LedgerFlagKind, SweepClaim, SweepState
from domain.pages import ListFilter, Position
from domain.payments import Payment, PaymentMethod, PaymentMethodConfig
from domain.qpay_messages import (
    CancelOutcome,
    CreatedInvoice,
    InvoiceRequest,
    IssuedReceipt,
    LedgerPage,
    PaymentCheck,
    QPayEnvironment,
    ReceiptRequest,
    ReceiptVoid,
    RefundOutcome,
)
from domain.refunds import Refund, RefundId
from domain.status import PaymentStatus, PushedStatus


@dataclass(frozen=True, slots=True)
class DueIntent:
    """An intent the poller claimed: a lease is held until release(). `ref`
    says what to ask QPay about, so the check reads nothing first."""

    ref: IntentRef
    expired: bool
    watched: bool
    check_count: int
    lag_seconds: float = 0.0

    @property
    def intent_id(self) -> IntentId:
        return self.ref.intent_id


@dataclass(frozen=True, slots=True)
class DueReceipt:
    id: UUID
    payment_id: UUID
    intent_id: IntentId | None
    qpay_payment_id: str
    receiver_type: EbarimtReceiverType
    receiver: str | None
    attempts: int
    # A create was sent and its outcome is unknown: it may have reached QPay.
    uncertain: bool = False
    # Its payment was refunded: the receipt is to be cancelled at QPay.
    voiding: bool = False
    # QPay's id of the receipt, once issued.
    ebarimt_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReceiptMarked:
    """Whether a receipt update applied (the lease and status still ours), and
    its intent's new version when the checkout screen must hear of it."""

    applied: bool
    intent_version: int | None = None


# A wake-up of a subscription: an intent version, the intent's committed
# state at a version (UnitOfWork.announce), or None for "re-read".
Wakeup = int | PushedStatus | None


class ChangeFeed(Protocol):
    """Committed intent changes as they happen (the event hub, any process)."""

    def subscribe(
        self, intent_id: IntentId
    ) -> AbstractContextManager[asyncio.Queue[Wakeup]]:
        """Register at once (no await), yield the queue of wake-ups, unregister
        on exit."""
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class InvoiceRepository(Protocol):
    async def add(self, invoice: Invoice) -> None: ...

    async def get(self, invoice_id: InvoiceId) -> Invoice | None: ...

    async def get_for_update(self, invoice_id: InvoiceId) -> Invoice | None:
        """Read and lock the row until the transaction ends (lock order: 1st)."""
        ...

    async def update(self, invoice: Invoice) -> None: ...

    async def next_number(self) -> str:
        """A new clinic invoice number from a database sequence."""
        ...

    async def page(
        self, wanted: ListFilter[InvoiceStatus], limit: int, after: Position | None
    ) -> Sequence[Invoice]:
        """Up to `limit` invoices, newest first (creation time, then id,
        descending), only those after `after`."""
        ...


class PaymentRepository(Protocol):
    async def add(self, payment: Payment) -> None:
        """Insert; raises DuplicateQPayPayment when the QPay payment id exists."""
        ...

    async def get(self, payment_id: UUID) -> Payment | None: ...

    async def list_for_invoices(
        self, invoice_ids: Sequence[InvoiceId]
    ) -> Sequence[Payment]: ...

    async def totals_by_method(
        self, start: datetime, end: datetime
    ) -> Mapping[PaymentMethod, tuple[Decimal, int]]:
        """Sum and count of the payments that count (MNT) recorded in
        [start, end), per method; methods with none are absent."""
        ...

    async def by_qpay_ids(self, qpay_payment_ids: Sequence[str]) -> dict[str, Payment]:
        """The recorded payments among these QPay payment ids, by id."""
        ...


class IntentRepository(Protocol):
    async def add(
        self, intent: QPayIntent, *, client_secret_hash: str, callback_token_hash: str
    ) -> None: ...

    async def get(self, intent_id: IntentId) -> QPayIntent | None: ...

    async def get_for_update(self, intent_id: IntentId) -> QPayIntent | None:
        """Read and lock the row (lock order: after its invoice)."""
        ...

    async def lock_for_settlement(
        self, intent_id: IntentId
    ) -> tuple[QPayIntent, frozenset[str]] | None:
        """get_for_update (after its invoice's lock) with the QPay payment ids
        its invoice has already recorded, in one round trip: read once the
        invoice is locked, so a settler that held it has committed its own."""
        ...

    async def get_watched(
        self, intent_id: IntentId
    ) -> tuple[QPayIntent, Invoice, bool] | None:
        """The intent, its billing invoice and whether an e-Barimt receipt of
        it is still being issued, read together (one snapshot: the receipt's
        change and the intent's version move in one commit; and one round
        trip for a subscription's re-read)."""
        ...

    async def update(
        self, intent: QPayIntent, *, raw: Mapping[str, object] | None = None
    ) -> None:
        """Store status, amounts, version and last error (and merge `raw`)."""
        ...

    async def store_settlement(
        self,
        intent: QPayIntent,
        *,
        payments: Sequence[Payment],
        invoice: Invoice | None,
        raw: Mapping[str, object] | None = None,
    ) -> None:
        """A settling transaction's writes, all or none: the new payments,
        the bill (None: unchanged) and update(intent, raw=raw), in one round
        trip. DuplicateQPayPayment when a QPay payment id is already recorded
        (nothing of the three is stored)."""
        ...

    async def record_qpay_invoice(
        self, intent: QPayIntent, *, raw: Mapping[str, object], first_check_in: float
    ) -> None:
        """Store QPay's invoice id, QR code and deeplinks; the poller's first
        check is due `first_check_in` seconds from now."""
        ...

    async def remember_ebarimt(
        self, intent_id: IntentId, request: EbarimtRequest, *, overwrite: bool = False
    ) -> None:
        """Set the e-Barimt request if none is remembered yet (or, with
        `overwrite`, whatever was remembered)."""
        ...

    async def list_for_invoices(
        self, invoice_ids: Sequence[InvoiceId]
    ) -> Sequence[QPayIntent]:
        """The invoices' intents whose QPay invoice exists, newest first."""
        ...

    async def page(
        self, wanted: ListFilter[IntentStatus], limit: int, after: Position | None
    ) -> Sequence[QPayIntent]:
        """Up to `limit` intents whose QPay invoice exists, newest first
        (creation time, then id, descending), only those after `after`."""
        ...

    async def list_open(self, environment: QPayEnvironment) -> Sequence[QPayIntent]:
        """The environment's created intents that are PENDING or NEEDS_REVIEW,
        oldest first."""
        ...

    async def list_creating(
        self, invoice_id: InvoiceId, amount: Decimal, environment: QPayEnvironment
    ) -> Sequence[QPayIntent]:
        """PENDING intents of this invoice, amount and QPay environment (made
        or still being made)."""
        ...

    async def add_client_secret(
        self, intent_id: IntentId, secret_hash: str
    ) -> None: ...

    async def secrets(self, intent_id: IntentId) -> IntentSecrets | None:
        """The hashes of the intent's client secrets and callback token."""
        ...

    async def refs_by_qpay_invoice(
        self, qpay_invoice_ids: Sequence[str], environment: QPayEnvironment
    ) -> dict[str, IntentRef]:
        """The environment's intents made for these QPay invoices, by QPay
        invoice id (whatever their state)."""
        ...


class PollSchedule(Protocol):
    """When each intent is asked about at QPay: the poller's leases and
    cadence, the watching checkout screens, and the right to check now."""

    async def mark_watched(
        self, intent_ids: Sequence[IntentId], seconds: float, poll_interval: float
    ) -> Sequence[tuple[IntentId, int]]:
        """Checkout screens watch these: poll each every `poll_interval` for
        `seconds`. Returns each intent's current version."""
        ...

    async def claim_due(
        self,
        owner: str,
        limit: int,
        lease_seconds: float,
        environment: QPayEnvironment,
    ) -> Sequence[DueIntent]:
        """Lease up to `limit` PENDING intents of `environment` whose next check
        is due, skipping rows other pollers hold (FOR UPDATE SKIP LOCKED,
        database clock)."""
        ...

    async def release(
        self, intent_id: IntentId, owner: str, delay_seconds: float
    ) -> None:
        """Drop our lease; check again in `delay_seconds`."""
        ...

    async def claim_check(self, intent_id: IntentId, min_interval: float) -> bool:
        """Atomically take the right to ask QPay now: False if someone did so
        less than `min_interval` seconds ago (database clock)."""
        ...


class IdempotencyRepository(Protocol):
    async def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        """Insert the key; if it exists (after waiting for a concurrent
        inserter), return the stored record instead."""
        ...

    async def complete(self, key: str, payment_id: UUID) -> None: ...

    async def complete_refund(self, key: str, refund_id: UUID) -> None: ...


class HistoryRepository(Protocol):
    """The invoices' history; written by the unit of work at commit from the
    events recorded (tx.record), never by a use case directly."""

    async def list_for_invoices(
        self, invoice_ids: Sequence[InvoiceId]
    ) -> Sequence[HistoryEntry]:
        """Every entry of these invoices, oldest first."""
        ...

    async def last_id(self) -> int:
        """The newest entry's id (0 when there is none)."""
        ...

    async def after(self, entry_id: int, limit: int) -> Sequence[HistoryEntry]:
        """Up to `limit` entries with an id above `entry_id`, in id order."""
        ...


class RefundRepository(Protocol):
    async def add(self, refund: Refund) -> bool:
        """Insert; False (nothing written) when the payment already has a
        QPay or outside refund that is not FAILED (QPay refunds once)."""
        ...

    async def get(self, refund_id: RefundId) -> Refund | None: ...

    async def update(self, refund: Refund) -> None:
        """Store status, completion time and last error."""
        ...

    async def delete(self, refund_id: RefundId) -> None:
        """Remove a refund QPay refused (and its idempotency key with it)."""
        ...

    async def list_for_payments(self, payment_ids: Sequence[UUID]) -> Sequence[Refund]:
        """Every refund of these payments, oldest first."""
        ...

    async def pending(self, older_than: datetime, limit: int) -> Sequence[Refund]:
        """PENDING refunds created before `older_than`, oldest first."""
        ...

    async def totals_by_method(
        self, start: datetime, end: datetime
    ) -> Mapping[PaymentMethod, tuple[Decimal, int]]:
        """Sum and count of refunds COMPLETED in [start, end) of payments that
        count (MNT), per method of the payment; methods with none absent."""
        ...


class ReceiptRepository(Protocol):
    async def add_pending(
        self, receipt: EbarimtReceipt, intent_id: IntentId
    ) -> None: ...

    async def claim_due(
        self,
        limit: int,
        lease_seconds: float,
        environment: QPayEnvironment,
        owner: str,
    ) -> Sequence[DueReceipt]:
        """Lease PENDING receipts of `environment`'s payments whose next
        attempt is due, as `owner`."""
        ...

    async def mark_sending(self, receipt_id: UUID, owner: str) -> bool:
        """Note, before a create is sent, that its outcome may become unknown;
        False when the lease or the PENDING status is no longer ours."""
        ...

    async def mark_issued(
        self, receipt_id: UUID, issued: IssuedReceipt, *, owner: str, now: datetime
    ) -> ReceiptMarked:
        """Store the receipt if it is still PENDING and leased by `owner`; bump
        its intent's version."""
        ...

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
        voiding: bool = False,
    ) -> ReceiptMarked:
        """Record a failed attempt of `owner`'s lease (of a create, or of a
        cancel when `voiding`); `retry_in` None means FAILED for good (then
        the intent's version is bumped). `uncertain` says whether a create
        may have reached QPay (None: unchanged)."""
        ...

    async def mark_voided(
        self, receipt_id: UUID, *, owner: str, now: datetime
    ) -> ReceiptMarked:
        """The VOIDING receipt `owner` leased is cancelled at QPay: VOIDED;
        bump its intent's version."""
        ...

    async def return_for_payment(self, payment_id: UUID, now: datetime) -> int:
        """The payment was refunded: its receipts go VOIDING (due now), or
        straight to VOIDED when never sent to QPay. Returns how many are
        VOIDING."""
        ...

    async def list_failed(
        self, environment: QPayEnvironment
    ) -> Sequence[EbarimtReceipt]:
        """The environment's receipts that ended FAILED: a person issues them."""
        ...

    async def list_for_payments(
        self, payment_ids: Sequence[UUID]
    ) -> Sequence[EbarimtReceipt]: ...


class LedgerRepository(Protocol):
    """The ledger sweep's lease and cursor, and the flags it raises."""

    async def claim_sweep(
        self, environment: QPayEnvironment, owner: str, lease_seconds: float
    ) -> SweepClaim | None:
        """Lease the environment's next sweep if it is due and nobody holds it
        (database clock); None otherwise."""
        ...

    async def finish_sweep(
        self,
        environment: QPayEnvironment,
        owner: str,
        swept_until: datetime,
        next_in: float,
    ) -> None:
        """Record that the ledger matched up to `swept_until`; drop the lease;
        the next sweep is due `next_in` seconds from now."""
        ...

    async def release_sweep(
        self, environment: QPayEnvironment, owner: str, retry_in: float
    ) -> None:
        """Drop the lease without moving the cursor; retry in `retry_in` s."""
        ...

    async def extend_sweep(
        self, environment: QPayEnvironment, owner: str, lease_seconds: float
    ) -> bool:
        """Hold the lease `lease_seconds` more from now (database clock);
        False when `owner` no longer holds it."""
        ...

    async def sweep_state(self, environment: QPayEnvironment) -> SweepState: ...

    async def raise_flag(
        self, environment: QPayEnvironment, flag: LedgerFlag, now: datetime
    ) -> bool:
        """Store the flag (or note it was seen again); True when it is new."""
        ...

    async def open_flags(self, environment: QPayEnvironment) -> Sequence[LedgerFlag]:
        """Flags nobody has resolved yet, oldest first."""
        ...

    async def resolve_flags(
        self,
        environment: QPayEnvironment,
        qpay_invoice_id: str,
        kind: LedgerFlagKind,
        now: datetime,
    ) -> int:
        """Mark the open flags of this kind on this QPay invoice resolved (a
        flag raised again later stays resolved); how many were open."""
        ...


class CallbackRepository(Protocol):
    async def add(self, callback: ReceivedCallback) -> None: ...


class MethodConfigRepository(Protocol):
    async def list(self) -> Sequence[PaymentMethodConfig]: ...

    async def get(self, method: PaymentMethod) -> PaymentMethodConfig | None: ...


class UnitOfWork(Protocol):
    """One transaction. `async with uow:` begins; leaving without `commit()`
    rolls back. Events handed to `record` are announced to subscribers (the
    intent changes among them) exactly when the transaction commits."""

    @property
    def invoices(self) -> InvoiceRepository: ...

    @property
    def payments(self) -> PaymentRepository: ...

    @property
    def intents(self) -> IntentRepository: ...

    @property
    def schedule(self) -> PollSchedule: ...

    @property
    def idempotency(self) -> IdempotencyRepository: ...

    @property
    def receipts(self) -> ReceiptRepository: ...

    @property
    def methods(self) -> MethodConfigRepository: ...

    @property
    def callbacks(self) -> CallbackRepository: ...

    @property
    def ledger(self) -> LedgerRepository: ...

    @property
    def history(self) -> HistoryRepository: ...

    @property
    def refunds(self) -> RefundRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...

    def record(self, *events: DomainEvent) -> None: ...

    def announce(self, status: PaymentStatus) -> None:
        """The state its intent's subscribers see once this commits, at the
        version `record` announced for it: the notification carries it, so
        they need not re-read it (a transport that cannot carry it, or a
        state of another version, leaves them to re-read)."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class PaymentGateway(Protocol):
    """QPay, seen from the domain. Raises GatewayUnavailable or GatewayRejected.

    create_invoice, cancel_invoice and create_receipt are never retried by the
    adapter; check_payment may be (it is a read)."""

    @property
    def environment(self) -> QPayEnvironment: ...

    async def create_invoice(self, request: InvoiceRequest) -> CreatedInvoice: ...

    async def check_payment(self, qpay_invoice_id: str) -> PaymentCheck: ...

    async def cancel_invoice(self, qpay_invoice_id: str) -> CancelOutcome: ...

    async def create_receipt(self, request: ReceiptRequest) -> IssuedReceipt: ...

    async def refund_payment(self, qpay_payment_id: str, note: str) -> RefundOutcome:
        """Ask QPay to refund the payment, once (never retried: a lost answer
        may mean it was refunded; ask payment_status before anything else).
        Raises GatewayUnavailable (with may_have_reached) or GatewayRejected."""
        ...

    async def payment_status(self, qpay_payment_id: str) -> str:
        """QPay's status of one payment now (PAID, REFUNDED, ...), upper case."""
        ...

    async def void_receipts(
        self, qpay_payment_id: str, ebarimt_id: str | None = None
    ) -> ReceiptVoid:
        """Cancel every receipt QPay holds for the payment (e-Barimt 3.0 keys
        them by payment id), or, in the v2 family, the receipt `ebarimt_id`;
        UNSUPPORTED where neither is possible (v2 without the receipt's id).
        Never retried."""
        ...

    async def list_payments(
        self, start: datetime, end: datetime, page: int
    ) -> LedgerPage:
        """Page `page` (from 1, at most 100 rows) of QPay's list of payments on
        our invoice code made between `start` and `end` (aware datetimes). The
        page may hold payments from a little outside the period."""
        ...


class DuplicateQPayPayment(Exception):
    """The database already holds a payment with this QPay payment id. The
    unit of work that raised it can only be left: its transaction is aborted
    (commit() raises TransactionAborted)."""


class TransactionAborted(Exception):
    """commit() after a statement of the transaction was refused (a unique
    key): PostgreSQL answers such a COMMIT with ROLLBACK, so nothing of the
    unit of work was written; this says so instead of returning quietly."""
