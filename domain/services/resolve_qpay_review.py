"""Use case: a person closes a NEEDS_REVIEW intent (resolveQPayReview).

    ACCEPT         the money stays as recorded: the intent is PAID (CANCELLED
                   when it holds none, e.g. only an unreadable row)
    REFUND_EXCESS  what the invoice holds above its total is given back first,
                   through QPay, as whole payments of this intent (QPay's
                   refund takes no amount), then the intent is closed (PAID,
                   or REFUNDED when all its money went back). No excess:
                   INVALID_INPUT; an excess no whole card payment of the
                   intent matches: REFUND_NOT_SUPPORTED, nothing changed.

Each resolution records who (the token's sub), how, why (the note) and when;
the same key replays; a second resolution gives NOT_IN_REVIEW. The refunds
of REFUND_EXCESS use keys derived from the resolution's, so a retry after a
failure refunds nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import (
    DomainError,
    ErrorCode,
    Subject,
    idempotency_conflict,
    not_found,
)
from domain.events import IntentChanged
from domain.idempotency import IdempotencyRecord, fingerprint
from domain.intents import (
    IntentId,
    IntentStatus,
    QPayIntent,
    Review,
    ReviewResolution,
)
from domain.invoices import Invoice
from domain.ledger import LedgerFlagKind
from domain.money import CURRENCY, ZERO
from domain.payments import Payment
from domain.ports import Clock, PaymentGateway, UnitOfWork, UnitOfWorkFactory
from domain.refunds import refundable
from domain.services.refund_payment import RefundPayment, refund_payment
from domain.text import required_text


@dataclass(frozen=True, slots=True)
class ResolveQPayReview:
    intent_id: IntentId
    resolution: ReviewResolution
    note: str | None
    idempotency_key: str | None
    actor: str | None = None


async def resolve_qpay_review(
    cmd: ResolveQPayReview,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
) -> QPayIntent:
    """Resolve (or replay); raises DomainError, and then nothing is written
    by the resolution itself (refunds QPay made stay recorded)."""
    note = required_text(cmd.note, Subject.NOTE, max_length=1000)
    key = required_text(cmd.idempotency_key, Subject.IDEMPOTENCY_KEY, max_length=255)
    request_print = fingerprint(
        {
            "operation": "resolveQPayReview",
            "intent_id": str(cmd.intent_id),
            "resolution": cmd.resolution.value,
            "note": note,
        }
    )
    refunded = False
    if cmd.resolution is ReviewResolution.REFUND_EXCESS:
        excess = await _excess_payments(
            cmd.intent_id, key, request_print, uow=uow, clock=clock
        )
        if isinstance(excess, QPayIntent):
            return excess  # a replay
        for payment in excess:
            done = await refund_payment(
                RefundPayment(
                    payment_id=payment.id,
                    amount=None,
                    reason=f"review: {note}",
                    idempotency_key=f"{key[:200]}/refund/{payment.id}",
                    actor=cmd.actor,
                ),
                uow=uow,
                gateway=gateway,
                clock=clock,
            )
            if done.pending_because is not None:
                raise done.pending_because
        refunded = True
    async with uow() as tx:
        intent, invoice = await _locked(tx, cmd.intent_id)
        stored = await tx.idempotency.claim(
            IdempotencyRecord(key, request_print, invoice.id, clock.now())
        )
        if stored is not None:
            return _replay(stored, request_print, intent)
        review_open = intent.status is IntentStatus.NEEDS_REVIEW or (
            refunded and intent.status is IntentStatus.REFUNDED
        )
        if not review_open:
            raise _not_in_review(intent)
        now = clock.now()
        after = intent.resolved(Review(cmd.resolution, note, cmd.actor, now))
        await tx.intents.update(after)
        if intent.qpay_invoice_id is not None:
            # The ledger's flag of the same unreadable row: this decision
            # covers it, so `reconcile` stops asking for a person.
            await tx.ledger.resolve_flags(
                intent.environment,
                intent.qpay_invoice_id,
                LedgerFlagKind.MALFORMED,
                now,
            )
        tx.record(IntentChanged(after.id, after.status, after.version, cmd.actor))
        await tx.commit()
    return after


async def _locked(tx: UnitOfWork, intent_id: IntentId) -> tuple[QPayIntent, Invoice]:
    found = await tx.intents.get(intent_id)
    if found is None or not found.is_created:
        raise not_found("QPay intent", Subject.INTENT)
    invoice = await tx.invoices.get_for_update(found.invoice_id)
    intent = await tx.intents.get_for_update(intent_id)
    if invoice is None or intent is None:
        raise not_found("QPay intent", Subject.INTENT)
    return intent, invoice


def _replay(
    stored: IdempotencyRecord, request_print: str, intent: QPayIntent
) -> QPayIntent:
    if stored.fingerprint != request_print:
        raise idempotency_conflict()
    return intent


def _not_in_review(intent: QPayIntent) -> DomainError:
    return DomainError(
        ErrorCode.NOT_IN_REVIEW,
        f"the QPay intent is {intent.status.value}, not in review",
        Subject.INTENT,
    )


async def _excess_payments(
    intent_id: IntentId,
    key: str,
    request_print: str,
    *,
    uow: UnitOfWorkFactory,
    clock: Clock,
) -> list[Payment] | QPayIntent:
    """The intent's payments to refund whole for the invoice's excess (or
    the intent itself when the key replays). Writes nothing."""
    async with uow() as tx:
        intent, invoice = await _locked(tx, intent_id)
        stored = await tx.idempotency.claim(
            IdempotencyRecord(key, request_print, invoice.id, clock.now())
        )
        if stored is not None:
            return _replay(stored, request_print, intent)
        if intent.status is not IntentStatus.NEEDS_REVIEW:
            raise _not_in_review(intent)
        excess = invoice.paid_amount - invoice.total
        if excess <= ZERO:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"the invoice holds {invoice.paid_amount} of {invoice.total}: nothing "
                "exceeds it, resolve with ACCEPT",
                Subject.RESOLUTION,
            )
        payments = [
            p
            for p in await tx.payments.list_for_invoices([invoice.id])
            if p.intent_id == intent.id and p.currency == CURRENCY
        ]
        refunds = await tx.refunds.list_for_payments([p.id for p in payments])
        # the transaction ends without commit: the key claim is rolled back
    chosen: list[Payment] = []
    left = excess
    for payment in sorted(payments, key=lambda p: (p.created_at, p.id), reverse=True):
        whole = refundable(payment, refunds) == payment.amount
        if whole and payment.amount <= left:
            chosen.append(payment)
            left -= payment.amount
    if not chosen:
        raise DomainError(
            ErrorCode.REFUND_NOT_SUPPORTED,
            f"the excess {excess} is not a whole payment of this intent, and QPay "
            "refunds whole payments only: give it back another way and resolve "
            "with ACCEPT",
            Subject.RESOLUTION,
        )
    return chosen
