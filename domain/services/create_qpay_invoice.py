"""Use case: make (or reuse) a QPay invoice with QR code for a billing invoice.

Three short transactions around one QPay call, never a transaction held across
the network:

1. Lock the billing invoice, validate, and either return a reusable PENDING
   intent (same invoice and amount, not about to expire) or insert a
   placeholder intent with a fresh sender_invoice_no; commit. A request that
   finds another request's placeholder still waiting for QPay waits for it
   (woken by the placeholder's change, not by polling), so concurrent calls
   make one QPay invoice. A placeholder older than the worst case of one QPay
   create (`creation_wait_seconds`) is taken for abandoned and closed.
2. Ask QPay to create the invoice (never retried automatically).
3. Store QPay's answer on the placeholder (or, on failure, close it with the
   error); commit, then return the QR code. If the placeholder was closed
   meanwhile (abandoned by a slower-than-worst-case request), its QPay invoice
   is recorded on it (so money paid on it is still matched and recorded),
   cancelled at QPay, and the request answers with the bill's current intent
   or QPAY_UNAVAILABLE: never with the QR of a closed intent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

from domain.client_secrets import hash_secret, new_secret
from domain.ebarimt import EbarimtRequest
from domain.errors import (
    DomainError,
    ErrorCode,
    GatewayUnavailable,
    Subject,
    not_found,
)
from domain.events import IntentChanged
from domain.intents import IntentId, IntentStatus, QPayIntent
from domain.invoices import Invoice, InvoiceId, InvoiceStatus
from domain.money import ZERO, require_positive_amount
from domain.payments import PaymentMethod
from domain.ports import (
    ChangeFeed,
    Clock,
    PaymentGateway,
    UnitOfWork,
    UnitOfWorkFactory,
    Wakeup,
)
from domain.qpay_messages import (
    CancelOutcome,
    CreatedInvoice,
    InvoiceRequest,
    QPayEnvironment,
)
from domain.services.settle_qpay_intent import settle_qpay_intent
from domain.text import clean_text


@dataclass(frozen=True, slots=True)
class CreateQPayInvoice:
    invoice_id: InvoiceId
    amount: Decimal | None = None
    description: str | None = None
    ebarimt: EbarimtRequest | None = None
    # Who asked (a staff token's sub), for the invoice's history.
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class QPayInvoicePolicy:
    ttl_seconds: int
    callback_base_url: str
    # The worst case of one QPay create (token refresh, login, create, and a
    # re-login and replay after a 401): a request waits this long for a
    # concurrent request's QPay call, and a placeholder older than this is
    # taken for abandoned.
    creation_wait_seconds: float = 17.0
    # An intent this close to expiry is not handed out again.
    reuse_margin_seconds: float = 60.0
    # Nobody pays within the first moments: the poller's first look comes after.
    first_check_seconds: float = 3.0


@dataclass(frozen=True, slots=True)
class QPayInvoiceCreated:
    intent: QPayIntent
    client_secret: str
    reused: bool


@dataclass(frozen=True, slots=True)
class _Placeholder:
    intent: QPayIntent
    callback_token: str
    client_secret: str


@dataclass(frozen=True, slots=True)
class _Wait:
    """Another request's placeholder for this invoice and amount is at QPay."""

    intent_id: IntentId


# A waiting request re-reads at least this often, in case a wake-up is lost
# (the event transport reconnecting); the wake-up itself is what it waits for.
RECHECK_SECONDS = 2.0

logger = logging.getLogger(__name__)


async def create_qpay_invoice(
    cmd: CreateQPayInvoice,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
    policy: QPayInvoicePolicy,
    changes: ChangeFeed | None = None,
) -> QPayInvoiceCreated:
    """Return a PENDING intent with its QR code and a client secret.

    Commits the intent before returning. `changes` wakes a request waiting for
    a concurrent one (without it, the wait re-reads every RECHECK_SECONDS).
    Raises DomainError: NOT_FOUND, INVOICE_VOID, INVOICE_ALREADY_PAID,
    METHOD_DISABLED, INVALID_AMOUNT, AMOUNT_EXCEEDS_BALANCE, INVALID_INPUT,
    QPAY_UNAVAILABLE, QPAY_REJECTED.
    """
    requested = (
        None
        if cmd.amount is None
        else require_positive_amount(cmd.amount, Subject.AMOUNT)
    )
    description = clean_text(cmd.description, Subject.DESCRIPTION, max_length=255)
    receiver = clean_text(
        cmd.ebarimt.receiver if cmd.ebarimt else None,
        Subject.EBARIMT_RECEIVER,
        max_length=64,
    )
    ebarimt = (
        EbarimtRequest(cmd.ebarimt.receiver_type, receiver) if cmd.ebarimt else None
    )

    async def reuse_or_reserve() -> QPayInvoiceCreated | _Placeholder | _Wait:
        async with uow() as tx:
            step = await _reuse_or_reserve(
                tx,
                cmd.invoice_id,
                requested,
                description,
                ebarimt,
                gateway.environment,
                clock,
                policy,
            )
            await tx.commit()
        return step

    deadline = clock.now() + timedelta(seconds=policy.creation_wait_seconds)
    step = await reuse_or_reserve()
    while isinstance(step, _Wait):
        with _watching(changes, step.intent_id) as wakeups:
            # Registered first, then read again: no change can slip between.
            step = await reuse_or_reserve()
            if not isinstance(step, _Wait):
                break
            remaining = (deadline - clock.now()).total_seconds()
            if remaining <= 0:
                raise GatewayUnavailable(
                    "another request is still creating this QPay invoice; try again",
                    may_have_reached=True,
                )
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can
            # swallow a cancellation that lands just as the queue yields.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, RECHECK_SECONDS)):
                    await wakeups.get()
    if isinstance(step, QPayInvoiceCreated):
        return step
    return await _create_at_qpay(
        step, uow=uow, gateway=gateway, clock=clock, policy=policy, actor=cmd.actor
    )


@contextlib.contextmanager
def _watching(
    changes: ChangeFeed | None, intent_id: IntentId
) -> Iterator[asyncio.Queue[Wakeup]]:
    if changes is None:
        yield asyncio.Queue()  # nothing will come: re-read every RECHECK_SECONDS
        return
    with changes.subscribe(intent_id) as queue:
        yield queue


async def _reuse_or_reserve(
    tx: UnitOfWork,
    invoice_id: InvoiceId,
    requested: Decimal | None,
    description: str | None,
    ebarimt: EbarimtRequest | None,
    environment: QPayEnvironment,
    clock: Clock,
    policy: QPayInvoicePolicy,
) -> QPayInvoiceCreated | _Placeholder | _Wait:
    """Phase 1, under the invoice row lock."""
    invoice = await tx.invoices.get_for_update(invoice_id)
    if invoice is None:
        raise not_found("invoice", Subject.INVOICE)
    amount = _amount_for(invoice, requested)
    config = await tx.methods.get(PaymentMethod.QPAY)
    if config is None or not config.enabled:
        raise DomainError(
            ErrorCode.METHOD_DISABLED, "QPay payments are disabled", Subject.METHOD
        )
    now = clock.now()
    reuse_after = now + timedelta(seconds=policy.reuse_margin_seconds)
    waiting_since = now - timedelta(seconds=policy.creation_wait_seconds)
    for intent in await tx.intents.list_creating(invoice.id, amount, environment):
        if intent.is_reusable_for(amount, reuse_after):
            secret = new_secret()
            await tx.intents.add_client_secret(intent.id, hash_secret(secret))
            if ebarimt is not None and ebarimt != intent.ebarimt:
                # The latest request wins: nothing is paid, so no receipt exists.
                await tx.intents.remember_ebarimt(intent.id, ebarimt, overwrite=True)
                intent = replace(intent, ebarimt=ebarimt)
            return QPayInvoiceCreated(intent, secret, reused=True)
        if not intent.is_created and intent.created_at > waiting_since:
            return _Wait(intent.id)
        if not intent.is_created:
            # A request that died between phases left this behind.
            abandoned = intent.evolved(
                now, status=IntentStatus.CANCELLED, error="creation abandoned"
            )
            await tx.intents.update(abandoned)
            tx.record(IntentChanged(abandoned.id, abandoned.status, abandoned.version))
    secret, token = new_secret(), new_secret()
    intent_id = IntentId(uuid4())
    placeholder = QPayIntent(
        id=intent_id,
        invoice_id=invoice.id,
        environment=environment,
        amount=amount,
        paid_amount=ZERO,
        status=IntentStatus.PENDING,
        sender_invoice_no=f"MD{intent_id.hex[:30].upper()}",
        version=0,
        expires_at=now + timedelta(seconds=policy.ttl_seconds),
        created_at=now,
        updated_at=now,
        description=description or f"M Dent invoice {invoice.number}",
        ebarimt=ebarimt,
    )
    await tx.intents.add(
        placeholder,
        client_secret_hash=hash_secret(secret),
        callback_token_hash=hash_secret(token),
    )
    return _Placeholder(placeholder, token, secret)


def _amount_for(invoice: Invoice, requested: Decimal | None) -> Decimal:
    if invoice.status is InvoiceStatus.VOID:
        raise DomainError(ErrorCode.INVOICE_VOID, "invoice is void", Subject.INVOICE)
    if invoice.balance <= ZERO:
        raise DomainError(
            ErrorCode.INVOICE_ALREADY_PAID, "invoice is already paid", Subject.INVOICE
        )
    if requested is None:
        return invoice.balance
    if requested > invoice.balance:
        raise DomainError(
            ErrorCode.AMOUNT_EXCEEDS_BALANCE,
            f"amount exceeds the balance {invoice.balance}",
            Subject.AMOUNT,
        )
    return requested


async def _create_at_qpay(
    reserved: _Placeholder,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
    policy: QPayInvoicePolicy,
    actor: str | None,
) -> QPayInvoiceCreated:
    """Phases 2 and 3: one QPay call, then store its answer (or the failure)."""
    placeholder = reserved.intent
    callback_url = (
        f"{policy.callback_base_url}/qpay/callback/{placeholder.id}"
        f"?token={reserved.callback_token}"
    )
    request = InvoiceRequest(
        sender_invoice_no=placeholder.sender_invoice_no,
        amount=placeholder.amount,
        description=placeholder.description or "",
        callback_url=callback_url,
    )
    try:
        created = await gateway.create_invoice(request)
    except DomainError as error:
        async with uow() as tx:
            await tx.invoices.get_for_update(placeholder.invoice_id)
            current = await tx.intents.get_for_update(placeholder.id)
            if current is not None and not current.is_created:
                failed = current.evolved(
                    clock.now(),
                    status=IntentStatus.CANCELLED,
                    error=error.message[:1000],
                )
                await tx.intents.update(failed)
                tx.record(IntentChanged(failed.id, failed.status, failed.version))
                await tx.commit()
        raise
    async with uow() as tx:
        # Lock order: the billing invoice, then the intent (as every writer).
        await tx.invoices.get_for_update(placeholder.invoice_id)
        current = await tx.intents.get_for_update(placeholder.id)
        if current is None:
            raise not_found("QPay intent")
        stored = replace(
            current,
            qpay_invoice_id=created.qpay_invoice_id,
            qr_text=created.qr_text,
            qr_image=created.qr_image,
            short_url=created.short_url,
            deeplinks=created.deeplinks,
            updated_at=clock.now(),
        )
        # Recorded even on a closed placeholder: money paid on this QPay
        # invoice must find its intent (and go to review, not be lost).
        await tx.intents.record_qpay_invoice(
            stored,
            raw={"invoice": dict(created.raw)},
            first_check_in=policy.first_check_seconds,
        )
        # Wakes the requests waiting for this placeholder.
        tx.record(IntentChanged(stored.id, stored.status, stored.version, actor=actor))
        await tx.commit()
    if stored.status is IntentStatus.PENDING:
        return QPayInvoiceCreated(stored, reserved.client_secret, reused=False)
    await _withdraw(stored, created, uow=uow, gateway=gateway, clock=clock)
    raise GatewayUnavailable(
        "QPay answered after this request had been given up; try again",
        may_have_reached=False,
    )


async def _withdraw(
    closed: QPayIntent,
    created: CreatedInvoice,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
) -> None:
    """QPay made an invoice for a placeholder that was closed meanwhile: cancel
    it at QPay so its QR cannot take money. If that fails, the invoice stays
    recorded on the closed intent, so a payment on it is still recorded."""
    logger.warning(
        "QPay invoice %s came after intent %s was closed; cancelling it at QPay",
        created.qpay_invoice_id,
        closed.id,
    )
    try:
        outcome = await gateway.cancel_invoice(created.qpay_invoice_id)
        if outcome is CancelOutcome.ALREADY_PAID:
            await settle_qpay_intent(closed.id, uow=uow, gateway=gateway, clock=clock)
    except DomainError as error:
        logger.warning(
            "could not cancel QPay invoice %s at QPay (%s); any payment on it is "
            "still recorded",
            created.qpay_invoice_id,
            error.code,
        )
