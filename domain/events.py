"""What happened, in the past tense. Returned by decisions, never raised.

A use case hands the events of what it writes to its unit of work
(`tx.record(...)`); when the transaction commits, the unit of work appends
each to the invoice's history (`payment_events`, append-only) and announces
the intent changes among them to subscribers; if it rolls back, neither.
`actor` is the staff member (a token's `sub`) whose request caused the
event; None when the service acted on its own (a callback, the poller, the
ledger sweep, the e-Barimt worker).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from uuid import UUID

from domain.intents import IntentId, IntentStatus
from domain.invoices import InvoiceId
from domain.payments import PaymentId


@dataclass(frozen=True, slots=True)
class PaymentRecorded:
    payment_id: PaymentId
    invoice_id: InvoiceId
    amount: Decimal
    qpay_payment_id: str | None
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class IntentChanged:
    """The intent is now at `version` (its status, amounts, QR or error)."""

    intent_id: IntentId
    status: IntentStatus
    version: int
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class ReceiptChanged:
    """An e-Barimt receipt of the intent was issued or failed; the intent's
    version moved to `intent_version` so its checkout screen hears of it."""

    receipt_id: UUID
    intent_id: IntentId
    intent_version: int
    payment_id: UUID | None = None
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class RefundRecorded:
    """A refund reached `status` (COMPLETED: its money left the invoice)."""

    refund_id: UUID
    invoice_id: InvoiceId
    payment_id: PaymentId
    amount: Decimal
    status: str
    actor: str | None = None


DomainEvent = PaymentRecorded | IntentChanged | ReceiptChanged | RefundRecorded

# The event hub's topic for "an invoice's history grew" (the paymentEvents
# feed): announced, beside the intents' own changes, by every commit that
# recorded events. No intent has this id.
HISTORY_TOPIC = IntentId(UUID(int=0))


def acting(events: tuple[DomainEvent, ...], actor: str | None) -> list[DomainEvent]:
    """`events`, caused by `actor`'s request (unchanged when None)."""
    if actor is None:
        return list(events)
    return [replace(event, actor=actor) for event in events]


def announced_version(event: DomainEvent) -> tuple[IntentId, int] | None:
    """The intent and version subscribers hear of for `event`, if any."""
    if isinstance(event, IntentChanged):
        return event.intent_id, event.version
    if isinstance(event, ReceiptChanged):
        return event.intent_id, event.intent_version
    return None
