"""What the domain sends to and gets from the payment gateway (QPay).

Plain values, already checked by the adapter: amounts are Decimal, statuses are
QPay's strings kept as they came (only exact "PAID" counts as paid).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from domain.ebarimt import EbarimtReceiverType

PAID = "PAID"
# payments.qpay_txn_id is VARCHAR(64): a longer id cannot be QPay's.
MAX_PAYMENT_ID_LENGTH = 64


class QPayEnvironment(StrEnum):
    MOCK = "MOCK"
    SANDBOX = "SANDBOX"
    LIVE = "LIVE"


@dataclass(frozen=True, slots=True)
class Deeplink:
    name: str
    link: str
    description: str | None = None
    logo: str | None = None


@dataclass(frozen=True, slots=True)
class InvoiceRequest:
    sender_invoice_no: str
    amount: Decimal
    description: str
    callback_url: str


@dataclass(frozen=True, slots=True)
class CreatedInvoice:
    qpay_invoice_id: str
    qr_text: str
    qr_image: str
    short_url: str | None
    deeplinks: tuple[Deeplink, ...]
    raw: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PaymentRow:
    payment_id: str
    status: str
    amount: Decimal
    currency: str = "MNT"
    payment_type: str | None = None

    @property
    def is_paid(self) -> bool:
        return self.status == PAID


@dataclass(frozen=True, slots=True)
class MalformedRow:
    """A row that may be a payment but cannot be recorded as QPay sent it
    (amount 0 or with 3 decimals, an over-long id, ...): a person must look."""

    payment_id: str | None
    reason: str
    # The QPay invoice it paid, when QPay's list says (payment/list only).
    qpay_invoice_id: str | None = None

    def describe(self) -> str:
        return f"QPay payment {self.payment_id or '(no id)'}: {self.reason}"


@dataclass(frozen=True, slots=True)
class PaymentCheck:
    """QPay's payment/check answer for one QPay invoice (all pages)."""

    rows: tuple[PaymentRow, ...] = ()
    raw: Mapping[str, object] = field(default_factory=dict)
    malformed: tuple[MalformedRow, ...] = ()


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One payment in QPay's own payment list (payment/list)."""

    payment_id: str
    status: str
    amount: Decimal
    currency: str
    # The QPay invoice it paid (None when QPay names another kind of object).
    qpay_invoice_id: str | None
    paid_at: datetime | None = None
    payment_type: str | None = None

    @property
    def is_paid(self) -> bool:
        return self.status == PAID


@dataclass(frozen=True, slots=True)
class LedgerPage:
    """One page of QPay's payment list; `total` counts every page's rows."""

    rows: tuple[LedgerRow, ...]
    total: int
    malformed: tuple[MalformedRow, ...] = ()


class CancelOutcome(StrEnum):
    CANCELLED = "CANCELLED"
    ALREADY_CANCELLED = "ALREADY_CANCELLED"
    ALREADY_PAID = "ALREADY_PAID"


class RefundOutcome(StrEnum):
    """What QPay did with a refund request (design.md §8)."""

    REFUNDED = "REFUNDED"
    # Money QPay cannot give back through the API: it refunds card payments
    # only, and answers PAYMENT_SETTLED for a bank-app (P2P) payment.
    NOT_SUPPORTED = "NOT_SUPPORTED"


@dataclass(frozen=True, slots=True)
class ReceiptRequest:
    qpay_payment_id: str
    receiver_type: EbarimtReceiverType
    receiver: str | None


@dataclass(frozen=True, slots=True)
class IssuedReceipt:
    ebarimt_id: str | None
    lottery: str | None
    qr_data: str | None
    raw: Mapping[str, object] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        """QPay answered `{}` (the sandbox has): whether a receipt was made is
        unknown, so this is not an issued receipt."""
        return self.ebarimt_id is None and self.lottery is None and not self.qr_data


class ReceiptVoid(StrEnum):
    """What cancelling a payment's receipts at QPay found."""

    VOIDED = "VOIDED"  # QPay held a receipt for the payment; it is cancelled
    NONE_FOUND = "NONE_FOUND"  # QPay holds no receipt for the payment
    UNSUPPORTED = "UNSUPPORTED"  # this e-Barimt family cannot look up by payment
