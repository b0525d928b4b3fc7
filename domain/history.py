"""An invoice's history: what happened to its money, who asked, and when.

Append-only (`payment_events`): the unit of work writes one entry per domain
event recorded in a transaction that commits (domain/events.py), so the
history cannot disagree with the rows it describes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from domain.intents import IntentId, IntentStatus
from domain.invoices import InvoiceId
from domain.payments import PaymentId


class PaymentEventKind(StrEnum):
    PAYMENT_RECORDED = "PAYMENT_RECORDED"
    INTENT_CHANGED = "INTENT_CHANGED"
    REFUND_RECORDED = "REFUND_RECORDED"
    RECEIPT_CHANGED = "RECEIPT_CHANGED"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    id: int
    invoice_id: InvoiceId
    kind: PaymentEventKind
    at: datetime
    payment_id: PaymentId | None = None
    intent_id: IntentId | None = None
    receipt_id: UUID | None = None
    refund_id: UUID | None = None
    # The intent's status right after an INTENT_CHANGED.
    intent_status: IntentStatus | None = None
    actor: str | None = None
