"""Expected failures of the use cases, each with a contract error code.

    DomainError(code, message, subject) every expected failure; GraphQL maps it to
    │                                    a UserError in the payload, and its subject
    │                                    to the argument that carried it
    ├── GatewayUnavailable              QPay did not answer (timeout, 5xx, garbage);
    │                                    says whether the request may have reached QPay
    └── GatewayRejected                 QPay answered with an error code of its own

Unexpected failures are ordinary exceptions and are never caught here.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    AMOUNT_EXCEEDS_BALANCE = "AMOUNT_EXCEEDS_BALANCE"
    INVOICE_ALREADY_PAID = "INVOICE_ALREADY_PAID"
    INVOICE_VOID = "INVOICE_VOID"
    METHOD_DISABLED = "METHOD_DISABLED"
    PAYMENT_NOT_CONFIRMED = "PAYMENT_NOT_CONFIRMED"
    INTENT_NOT_PENDING = "INTENT_NOT_PENDING"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    QPAY_UNAVAILABLE = "QPAY_UNAVAILABLE"
    QPAY_REJECTED = "QPAY_REJECTED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    REFUND_NOT_SUPPORTED = "REFUND_NOT_SUPPORTED"
    REFUND_EXCEEDS_PAYMENT = "REFUND_EXCEEDS_PAYMENT"
    NOT_IN_REVIEW = "NOT_IN_REVIEW"


class Subject(StrEnum):
    """What an expected failure is about, in the domain's words. The domain
    does not know the API: graph/ maps each subject to the argument of each
    mutation that carried it (`input.amount`, `intentId`, ...)."""

    INVOICE = "invoice"
    INTENT = "intent"
    TOTAL = "total"
    AMOUNT = "amount"
    NUMBER = "number"
    DESCRIPTION = "description"
    METHOD = "method"
    IDEMPOTENCY_KEY = "idempotency_key"
    EBARIMT = "ebarimt"
    EBARIMT_RECEIVER = "ebarimt_receiver"
    PAGE_SIZE = "page_size"
    PERIOD = "period"
    PAYMENT = "payment"
    REASON = "reason"
    NOTE = "note"
    RESOLUTION = "resolution"


class DomainError(Exception):
    """An expected failure: nothing was written, the caller gets `code`, and
    `subject` says which given value was wrong (None: none in particular)."""

    def __init__(self, code: ErrorCode, message: str, subject: Subject | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.subject = subject

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}, {self.message!r}, {self.subject!r})"


class GatewayUnavailable(DomainError):
    """QPay could not be reached or answered garbage; `may_have_reached` tells
    whether the request may have been processed anyway."""

    def __init__(self, message: str, *, may_have_reached: bool):
        super().__init__(ErrorCode.QPAY_UNAVAILABLE, message)
        self.may_have_reached = may_have_reached


class GatewayRejected(DomainError):
    """QPay refused the request with one of its own codes (kept in `qpay_code`)."""

    def __init__(self, qpay_code: str, message: str):
        super().__init__(ErrorCode.QPAY_REJECTED, f"QPay: {qpay_code}: {message}")
        self.qpay_code = qpay_code


def not_found(what: str, subject: Subject | None = None) -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, f"{what} not found", subject)


def idempotency_conflict() -> DomainError:
    """A key stored for another operation or input (every keyed use case)."""
    return DomainError(
        ErrorCode.IDEMPOTENCY_CONFLICT,
        "this idempotency key was used with a different input",
        Subject.IDEMPOTENCY_KEY,
    )
