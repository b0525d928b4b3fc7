"""Refunds: money given back on a recorded payment (design.md §8).

    QPAY     a QPay payment refunded through QPay's refund endpoint (card money
             only; QPay refunds a payment whole). PENDING while QPay's answer
             is not known, then COMPLETED, or FAILED when QPay shows the
             payment still paid
    DESK     any other method, given back by staff (cash, a bank transfer
             back): COMPLETED when recorded, partial amounts allowed
    OUTSIDE  a QPay payment found REFUNDED at QPay (its merchant portal)
             by a payment check or the ledger sweep: COMPLETED when found

Only a COMPLETED refund moves money: the invoice's paid amount goes down by
it (its status follows), so does its intent's, and the intent is REFUNDED
once all its money has gone back. A PENDING refund already holds its amount,
so a second refund of the same money is refused while the first is asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import NewType
from uuid import UUID

from domain.errors import DomainError, ErrorCode, Subject
from domain.events import DomainEvent, IntentChanged, RefundRecorded
from domain.intents import IntentId, IntentStatus, QPayIntent
from domain.invoices import Invoice, InvoiceId
from domain.money import ZERO
from domain.payments import Payment, PaymentId, PaymentMethod

RefundId = NewType("RefundId", UUID)

# The reason recorded for a refund found at QPay, made outside this service.
OUTSIDE_REASON = "refunded at QPay, outside this service"


class RefundStatus(StrEnum):
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class RefundChannel(StrEnum):
    QPAY = "QPAY"
    DESK = "DESK"
    OUTSIDE = "OUTSIDE"


@dataclass(frozen=True, slots=True)
class Refund:
    id: RefundId
    payment_id: PaymentId
    invoice_id: InvoiceId
    amount: Decimal
    status: RefundStatus
    channel: RefundChannel
    reason: str
    created_at: datetime
    updated_at: datetime
    # A staff token's sub; None when the service found it at QPay.
    actor: str | None = None
    intent_id: IntentId | None = None
    completed_at: datetime | None = None
    last_error: str | None = None

    @property
    def holds_money(self) -> bool:
        """True while this refund counts against what is left of its payment."""
        return self.status is not RefundStatus.FAILED

    def completed(self, now: datetime) -> Refund:
        return replace(
            self, status=RefundStatus.COMPLETED, completed_at=now, updated_at=now
        )

    def failed(self, now: datetime, error: str) -> Refund:
        return replace(
            self, status=RefundStatus.FAILED, last_error=error[:1000], updated_at=now
        )


def refundable(payment: Payment, refunds: Iterable[Refund]) -> Decimal:
    """What is left of `payment` to refund (refunds still being asked count)."""
    held = sum(
        (r.amount for r in refunds if r.payment_id == payment.id and r.holds_money),
        ZERO,
    )
    return max(payment.amount - held, ZERO)


def refund_amount(
    payment: Payment, refunds: Iterable[Refund], asked: Decimal | None
) -> Decimal:
    """The amount to refund: `asked`, or all that is left when None.

    REFUND_EXCEEDS_PAYMENT when more than is left is asked (or nothing is
    left); INVALID_AMOUNT when a QPay payment is asked in part (QPay's
    refund endpoint takes no amount: it refunds the payment whole)."""
    left = refundable(payment, refunds)
    if left == ZERO:
        raise DomainError(
            ErrorCode.REFUND_EXCEEDS_PAYMENT,
            "nothing is left of this payment to refund",
            Subject.PAYMENT,
        )
    amount = left if asked is None else asked
    if amount > left:
        raise DomainError(
            ErrorCode.REFUND_EXCEEDS_PAYMENT,
            f"amount exceeds what is left of the payment ({left})",
            Subject.AMOUNT,
        )
    if payment.method is PaymentMethod.QPAY and amount != payment.amount:
        raise DomainError(
            ErrorCode.INVALID_AMOUNT,
            f"QPay refunds a payment whole: give {payment.amount} or no amount",
            Subject.AMOUNT,
        )
    return amount


@dataclass(frozen=True, slots=True)
class RefundApplied:
    refund: Refund
    invoice: Invoice
    intent: QPayIntent | None
    events: tuple[DomainEvent, ...]


def apply_refund(
    refund: Refund,
    payment: Payment,
    invoice: Invoice,
    intent: QPayIntent | None,
    *,
    intent_left: Decimal,
    now: datetime,
) -> RefundApplied:
    """Complete `refund`: the money leaves the invoice (and the intent).

    `intent_left` is what is left to refund of all the intent's payments once
    this refund is completed: at zero the intent is REFUNDED.
    """
    done = refund.completed(now)
    counted = refund.amount if payment.counts else ZERO
    events: list[DomainEvent] = [
        RefundRecorded(
            done.id, invoice.id, payment.id, done.amount, done.status, done.actor
        )
    ]
    after_intent = intent
    if intent is not None:
        all_back = intent_left == ZERO and intent.status is not IntentStatus.REFUNDED
        status = IntentStatus.REFUNDED if all_back else None
        after_intent = intent.evolved(now, status=status, added=-counted)
        if after_intent.version != intent.version:
            events.append(
                IntentChanged(
                    after_intent.id,
                    after_intent.status,
                    after_intent.version,
                    actor=done.actor,
                )
            )
    return RefundApplied(
        refund=done,
        invoice=invoice.with_payments(-counted, now),
        intent=after_intent,
        events=tuple(events),
    )
