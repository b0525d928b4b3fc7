"""e-Barimt (VAT e-receipt) requests and receipts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from domain.payments import PaymentId


class EbarimtReceiverType(StrEnum):
    CITIZEN = "CITIZEN"
    COMPANY = "COMPANY"


class EbarimtStatus(StrEnum):
    PENDING = "PENDING"
    ISSUED = "ISSUED"
    FAILED = "FAILED"
    # Its payment was refunded: to be cancelled at QPay, then cancelled.
    VOIDING = "VOIDING"
    VOIDED = "VOIDED"


@dataclass(frozen=True, slots=True)
class EbarimtRequest:
    """What the clinic asked for: a receipt to a citizen or a company."""

    receiver_type: EbarimtReceiverType
    receiver: str | None = None


@dataclass(frozen=True, slots=True)
class EbarimtReceipt:
    id: UUID
    payment_id: PaymentId
    status: EbarimtStatus
    receiver_type: EbarimtReceiverType
    receiver: str | None
    lottery: str | None
    qr_data: str | None
    last_error: str | None
    attempts: int
    created_at: datetime
