"""Idempotency keys: of createInvoice, of settleInvoice for methods other
than QPAY, of refundPayment and of resolveQPayReview. One namespace; the
fingerprint names the operation and its input, so a key reused elsewhere is
a conflict."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    key: str
    fingerprint: str
    invoice_id: UUID
    created_at: datetime
    payment_id: UUID | None = None
    refund_id: UUID | None = None


def fingerprint(fields: dict[str, str | None]) -> str:
    """A stable hash of the request's meaningful input."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
