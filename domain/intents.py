"""QPay intents: one QPay invoice made for (part of) a billing invoice.

State machine (every change of status or paid amount adds one to `version`):

    PENDING ──► PAID ──► REFUNDED           (all its money given back)
       │         │
       │         └──────────────► NEEDS_REVIEW  (more money than asked)
       ├──► CANCELLED ──────────► NEEDS_REVIEW  (money after cancel)
       ├──► EXPIRED ────────────► NEEDS_REVIEW  (money after expiry)
       └──► NEEDS_REVIEW                        (an amount other than asked)

    NEEDS_REVIEW ──► PAID, CANCELLED (resolved: money kept, or none to keep)
                 └─► REFUNDED        (all its money given back)

Money is never dropped: any status may take more money, which is recorded and
sends the intent to NEEDS_REVIEW unless it exactly pays a PENDING intent.
`paid_amount` is the money the intent holds: refunds lower it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import NewType
from uuid import UUID

from domain.ebarimt import EbarimtRequest
from domain.invoices import InvoiceId
from domain.money import ZERO
from domain.qpay_messages import Deeplink, QPayEnvironment

IntentId = NewType("IntentId", UUID)


class IntentStatus(StrEnum):
    PENDING = "PENDING"
    PAID = "PAID"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    NEEDS_REVIEW = "NEEDS_REVIEW"
    REFUNDED = "REFUNDED"


class ReviewReason(StrEnum):
    """Why an intent went to NEEDS_REVIEW (the first cause; `last_error` has
    the latest detail)."""

    SHORT_PAID = "SHORT_PAID"  # less than the intent's amount
    OVERPAID = "OVERPAID"  # more than asked (a second scan of a paid QR)
    LATE = "LATE"  # money after the intent was cancelled, expired or refunded
    FOREIGN_CURRENCY = "FOREIGN_CURRENCY"  # recorded, not counted in tögrög
    MALFORMED_ROW = "MALFORMED_ROW"  # a payment row no table can hold


class ReviewResolution(StrEnum):
    """How a person closed a review (design.md §8)."""

    ACCEPT = "ACCEPT"  # keep the money as recorded
    REFUND_EXCESS = "REFUND_EXCESS"  # give back what exceeds the invoice's total


@dataclass(frozen=True, slots=True)
class Review:
    """Who resolved an intent's review, how, why and when."""

    resolution: ReviewResolution
    note: str
    actor: str | None
    at: datetime


ALLOWED_TRANSITIONS: dict[IntentStatus, frozenset[IntentStatus]] = {
    IntentStatus.PENDING: frozenset(
        {
            IntentStatus.PAID,
            IntentStatus.CANCELLED,
            IntentStatus.EXPIRED,
            IntentStatus.NEEDS_REVIEW,
        }
    ),
    IntentStatus.PAID: frozenset({IntentStatus.REFUNDED, IntentStatus.NEEDS_REVIEW}),
    # REFUNDED: money it holds though it counts none (a payment in another
    # currency, accepted in review), all given back.
    IntentStatus.CANCELLED: frozenset(
        {IntentStatus.NEEDS_REVIEW, IntentStatus.REFUNDED}
    ),
    IntentStatus.EXPIRED: frozenset({IntentStatus.NEEDS_REVIEW}),
    # A person's resolution (resolveQPayReview), or all its money refunded.
    IntentStatus.NEEDS_REVIEW: frozenset(
        {IntentStatus.PAID, IntentStatus.REFUNDED, IntentStatus.CANCELLED}
    ),
    IntentStatus.REFUNDED: frozenset({IntentStatus.NEEDS_REVIEW}),
}


@dataclass(frozen=True, slots=True)
class IntentRef:
    """Enough to settle an intent without reading it first."""

    intent_id: IntentId
    invoice_id: InvoiceId
    qpay_invoice_id: str | None
    environment: QPayEnvironment


@dataclass(frozen=True, slots=True)
class IntentSecrets:
    """What the hashes of an intent's bearer secrets unlock."""

    client_secret_hashes: tuple[str, ...]
    callback_token_hash: str
    ref: IntentRef


class IllegalTransition(Exception):
    """A programming error: the state machine does not allow this change."""


@dataclass(frozen=True, slots=True)
class QPayIntent:
    id: IntentId
    invoice_id: InvoiceId
    environment: QPayEnvironment
    amount: Decimal
    paid_amount: Decimal
    status: IntentStatus
    sender_invoice_no: str
    version: int
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    # None while the QPay invoice is being created (or when creation failed).
    qpay_invoice_id: str | None = None
    qr_text: str = ""
    qr_image: str = ""
    short_url: str | None = None
    deeplinks: tuple[Deeplink, ...] = ()
    qpay_payment_id: str | None = None
    description: str | None = None
    ebarimt: EbarimtRequest | None = None
    last_error: str | None = None
    review_reason: ReviewReason | None = None
    review: Review | None = None

    @property
    def is_created(self) -> bool:
        """True once QPay has answered with an invoice id."""
        return self.qpay_invoice_id is not None

    @property
    def settled(self) -> bool:
        """True once money for this intent is counted on the billing invoice."""
        return self.paid_amount > ZERO

    @property
    def paid_in_full(self) -> bool:
        """True once QPay took at least the intent's amount (in tögrög)."""
        return self.paid_amount >= self.amount

    @property
    def is_terminal(self) -> bool:
        """Nothing more is expected: a subscription completes here."""
        if self.status is IntentStatus.PENDING:
            return False
        if self.status is IntentStatus.PAID:
            return self.settled
        return True

    def is_reusable_for(self, amount: Decimal, now: datetime) -> bool:
        return (
            self.status is IntentStatus.PENDING
            and self.is_created
            and self.amount == amount
            and self.expires_at > now
        )

    def evolved(
        self,
        now: datetime,
        *,
        status: IntentStatus | None = None,
        added: Decimal = ZERO,
        payment_id: str | None = None,
        error: str | None = None,
        review: ReviewReason | None = None,
    ) -> QPayIntent:
        """The intent after one change (new status, more money and/or a new
        `error` for a person to read): version + 1.

        Raises IllegalTransition when the state machine forbids the move; returns
        the intent itself when nothing changes.
        """
        target = self.status if status is None else status
        if target is not self.status and target not in ALLOWED_TRANSITIONS[self.status]:
            raise IllegalTransition(f"{self.status} -> {target}")
        last_error = self.last_error if error is None else error
        if target is self.status and added == ZERO and last_error == self.last_error:
            return self
        reason = self.review_reason
        if target is IntentStatus.NEEDS_REVIEW and (
            reason is None or self.status is not IntentStatus.NEEDS_REVIEW
        ):
            # A new review keeps its first cause (a resolved one is history).
            reason = review or reason
        return replace(
            self,
            status=target,
            paid_amount=self.paid_amount + added,
            qpay_payment_id=self.qpay_payment_id or payment_id,
            last_error=last_error,
            review_reason=reason,
            version=self.version + 1,
            updated_at=now,
        )

    def resolved(self, review: Review) -> QPayIntent:
        """A review closed by a person, version + 1. From NEEDS_REVIEW: PAID
        when the intent holds money, CANCELLED when it holds none. REFUNDED
        (all its money given back by this resolution) stays REFUNDED. Raises
        IllegalTransition from any other status."""
        if self.status is IntentStatus.REFUNDED:
            return replace(self.touched(review.at), review=review)
        if self.status is not IntentStatus.NEEDS_REVIEW:
            raise IllegalTransition(f"{self.status} is not in review")
        status = (
            IntentStatus.PAID if self.paid_amount > ZERO else IntentStatus.CANCELLED
        )
        return replace(self.evolved(review.at, status=status), review=review)

    def touched(self, now: datetime) -> QPayIntent:
        """Version + 1 without a status change (e.g. its e-Barimt was issued)."""
        return replace(self, version=self.version + 1, updated_at=now)
