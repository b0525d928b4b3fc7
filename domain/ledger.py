"""QPay's ledger against ours: the sweep's window and what it flags for a person.

QPay's payment list (payment/list) is the record of every payment QPay took on
our invoice code. Compared with the payments table it finds money whose
callback was lost on an intent the poller no longer watches (a second scan of
a paid QR, a payment after a cancel or after expiry); what cannot be recorded
on an intent becomes a LedgerFlag for a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class LedgerFlagKind(StrEnum):
    # A payment on our invoice code that matches no intent of ours.
    UNMATCHED = "UNMATCHED"
    # QPay shows a payment of ours REFUNDED, and recording that refund failed.
    REFUNDED = "REFUNDED"
    # QPay's list and our payment disagree on the amount or the currency.
    MISMATCH = "MISMATCH"
    # A listed payment QPay sent in a shape we cannot read or record.
    MALFORMED = "MALFORMED"
    # Listed as PAID, yet payment/check of its QPay invoice does not show it.
    UNCONFIRMED = "UNCONFIRMED"


@dataclass(frozen=True, slots=True)
class LedgerFlag:
    """Something in QPay's ledger that needs a person; one per kind and QPay
    payment id (raising it again only updates when it was last seen)."""

    kind: LedgerFlagKind
    qpay_payment_id: str
    detail: str
    qpay_invoice_id: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    status: str | None = None
    first_seen_at: datetime | None = None
    # Set once a person's decision covers it (a resolved review of its intent).
    resolved_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SweepClaim:
    """The right to run the next sweep (a lease), and where the last one ended."""

    swept_until: datetime | None
    now: datetime
    first_intent_at: datetime | None


@dataclass(frozen=True, slots=True)
class SweepState:
    swept_until: datetime | None
    now: datetime

    @property
    def lag_seconds(self) -> float:
        """How far behind now the ledger is known to match (0 before a sweep)."""
        if self.swept_until is None:
            return 0.0
        return max(0.0, (self.now - self.swept_until).total_seconds())
