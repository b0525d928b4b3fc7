"""The settlement decision: what QPay's payment/check answer means for an intent.

Pure: given the intent, its billing invoice, the QPay payment ids already
recorded and QPay's rows, it returns the payments to record and the new states.
It never trusts a row twice: one Payment per distinct QPay payment id whose
status is exactly PAID, ignoring ids already recorded. Money in a currency
other than MNT is recorded with its currency but not counted on the invoice,
and sends the intent to NEEDS_REVIEW; so does a row that cannot be recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from domain.events import DomainEvent, IntentChanged, PaymentRecorded
from domain.intents import IntentStatus, QPayIntent, ReviewReason
from domain.invoices import Invoice
from domain.money import CURRENCY, ZERO
from domain.payments import Payment, PaymentId, PaymentMethod
from domain.qpay_messages import PaymentCheck, PaymentRow

CLOSING_STATUSES = frozenset({IntentStatus.CANCELLED, IntentStatus.EXPIRED})


@dataclass(frozen=True, slots=True)
class SettlementDecision:
    intent: QPayIntent
    invoice: Invoice
    payments: tuple[Payment, ...]
    events: tuple[DomainEvent, ...]

    @property
    def changed(self) -> bool:
        return bool(self.payments) or bool(self.events)


def new_paid_rows(
    rows: Iterable[PaymentRow], known_payment_ids: frozenset[str]
) -> list[PaymentRow]:
    """PAID rows whose payment id is not recorded yet, first occurrence wins."""
    fresh: dict[str, PaymentRow] = {}
    for row in rows:
        if row.is_paid and row.payment_id not in known_payment_ids:
            fresh.setdefault(row.payment_id, row)
    return list(fresh.values())


def decide_settlement(
    intent: QPayIntent,
    invoice: Invoice,
    known_payment_ids: frozenset[str],
    check: PaymentCheck,
    *,
    now: datetime,
    new_id: Callable[[], UUID] = uuid4,
) -> SettlementDecision:
    """Decide what `check` changes."""
    fresh = new_paid_rows(check.rows, known_payment_ids)
    counted = [row for row in fresh if row.currency == CURRENCY]
    foreign = tuple(row for row in fresh if row.currency != CURRENCY)
    added = sum((row.amount for row in counted), ZERO)

    status: IntentStatus | None = None
    error: str | None = None
    review: ReviewReason | None = None
    if check.malformed:
        # A row that may be money but cannot be recorded: a person decides.
        status, review = IntentStatus.NEEDS_REVIEW, ReviewReason.MALFORMED_ROW
        error = _malformed_error(check)
    elif foreign:
        # Recorded as it came, never counted in tögrög: a person converts it.
        status, review = IntentStatus.NEEDS_REVIEW, ReviewReason.FOREIGN_CURRENCY
        first = foreign[0]
        error = (
            f"QPay payment {first.payment_id} is in {first.currency} "
            f"({first.amount} {first.currency}): recorded, not counted"
        )
    elif intent.status is IntentStatus.PENDING and added > ZERO:
        paid = intent.paid_amount + added
        if paid == intent.amount:
            status = IntentStatus.PAID
        else:
            status = IntentStatus.NEEDS_REVIEW
            review = (
                ReviewReason.SHORT_PAID
                if paid < intent.amount
                else ReviewReason.OVERPAID
            )
    elif added > ZERO:
        status = IntentStatus.NEEDS_REVIEW
        review = _late_or_over(intent)

    after = intent.evolved(
        now,
        status=status,
        added=added,
        payment_id=counted[0].payment_id if counted else None,
        error=error,
        review=review,
    )
    payments = tuple(
        Payment(
            id=PaymentId(new_id()),
            invoice_id=invoice.id,
            method=PaymentMethod.QPAY,
            amount=row.amount,
            created_at=now,
            qpay_payment_id=row.payment_id,
            intent_id=intent.id,
            currency=row.currency,
        )
        for row in (*counted, *foreign)
    )
    events: list[DomainEvent] = [
        PaymentRecorded(p.id, p.invoice_id, p.amount, p.qpay_payment_id)
        for p in payments
    ]
    if after.version != intent.version:
        events.append(IntentChanged(after.id, after.status, after.version))
    return SettlementDecision(
        intent=after,
        invoice=invoice.with_payments(added, now),
        payments=payments,
        events=tuple(events),
    )


def _late_or_over(intent: QPayIntent) -> ReviewReason:
    """Money on an intent that no longer takes it: more than asked on a paid
    one, late on a closed one."""
    if intent.status is IntentStatus.PAID:
        return ReviewReason.OVERPAID
    if intent.status is IntentStatus.NEEDS_REVIEW and intent.review_reason:
        return intent.review_reason
    return ReviewReason.LATE


def decide_closing(
    intent: QPayIntent, invoice: Invoice, status: IntentStatus, *, now: datetime
) -> SettlementDecision:
    """End a PENDING intent as CANCELLED or EXPIRED, once QPay will take no
    more money on it (cancelled there, or it said nothing was paid). Any
    other state is left as it is: money found by a check comes first."""
    if status not in CLOSING_STATUSES:
        raise ValueError(f"cannot close an intent as {status}")
    if intent.status is not IntentStatus.PENDING:
        return SettlementDecision(intent, invoice, (), ())
    after = intent.evolved(now, status=status)
    return SettlementDecision(
        intent=after,
        invoice=invoice,
        payments=(),
        events=(IntentChanged(after.id, after.status, after.version),),
    )


def _malformed_error(check: PaymentCheck) -> str:
    rows = sorted(check.malformed, key=lambda row: row.payment_id or "")
    text = rows[0].describe()
    if len(rows) > 1:
        text += f" (and {len(rows) - 1} more unreadable rows)"
    return text[:1000]
