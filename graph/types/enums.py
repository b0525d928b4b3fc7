"""The contract's enums are the domain's own, registered with Strawberry.

`strawberry.enum` marks the domain classes, so resolvers annotate fields with
the domain enums directly (Strawberry's documented way to expose an existing
enum); the domain package itself stays free of Strawberry.

Each value's description is written here, beside the registration.
Strawberry's own way to describe a value, `strawberry.enum_value(...)`, is
an assignment in the body of the enum class, which would bring Strawberry
into domain/. So `described_enum` lets `strawberry.enum` build the enum's
definition as usual and then gives each of its values (Strawberry's public
`EnumValue` records, read when the schema is built) the description written
here: nothing of Strawberry is replaced, and a value left without a
description (a new domain value, say) stops the import.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import Enum
from typing import TypeVar

import strawberry
from strawberry.types.enum import has_enum_definition

from domain import (
    ebarimt,
    errors,
    history,
    intents,
    invoices,
    payments,
    qpay_messages,
    refunds,
)
from domain.money import MAX_AMOUNT
from domain.services.check_qpay_payment import CHECK_WINDOW_SECONDS

E = TypeVar("E", bound=Enum)


def described_enum(
    cls: type[E], *, name: str, description: str, values: Mapping[E, str]
) -> type[E]:
    """Register `cls` as the GraphQL enum `name`, with a description of the
    enum and of each of its values; ValueError if a value has none."""
    missing = [member.name for member in cls if member not in values]
    if missing:
        raise ValueError(f"{name}: no description for {', '.join(missing)}")
    registered = strawberry.enum(cls, name=name, description=description)
    if not has_enum_definition(registered):  # pragma: no cover  # always set
        raise TypeError(f"{name} is not a Strawberry enum")
    definition = registered.__strawberry_definition__
    definition.values = [
        dataclasses.replace(value, description=values[cls(value.value)])
        for value in definition.values
    ]
    return cls


described_enum(
    payments.PaymentMethod,
    name="PaymentMethod",
    description="How money reached (or left) the clinic.",
    values={
        payments.PaymentMethod.CASH: "Cash taken at the front desk.",
        payments.PaymentMethod.CARD: (
            "A card paid on the clinic's own card terminal (not through QPay)."
        ),
        payments.PaymentMethod.QPAY: (
            "Paid through QPay (a QR code or bank-app deeplink of a QPayIntent); "
            "recorded only once QPay confirms it."
        ),
        payments.PaymentMethod.BANK_TRANSFER: (
            "A transfer to the clinic's bank account, recorded by staff."
        ),
        payments.PaymentMethod.INSURANCE: (
            "Paid by the patient's insurer, recorded by staff."
        ),
    },
)
described_enum(
    invoices.InvoiceStatus,
    name="InvoiceStatus",
    description=(
        "Where a billing invoice stands, from its paidAmount against its total "
        "(VOID aside)."
    ),
    values={
        invoices.InvoiceStatus.UNPAID: "Nothing is paid: paidAmount is 0.00.",
        invoices.InvoiceStatus.PARTIALLY_PAID: (
            "Part is paid: 0.00 < paidAmount < total; balance is what is left."
        ),
        invoices.InvoiceStatus.PAID: (
            "Paid exactly: paidAmount equals total, balance is 0.00."
        ),
        invoices.InvoiceStatus.OVERPAID: (
            "More than the total was paid (e.g. a second scan of a paid QR): "
            "balance is 0.00; staff refund the excess (refundPayment, or "
            "resolveQPayReview with REFUND_EXCESS)."
        ),
        invoices.InvoiceStatus.VOID: (
            "Voided by the clinic: takes no new payment (INVOICE_VOID). No "
            "operation of this API voids an invoice."
        ),
    },
)
described_enum(
    intents.IntentStatus,
    name="QPayIntentStatus",
    description=(
        "The state of one QPay invoice (intent). Every state but PENDING is "
        "final for a checkout screen; money QPay still takes on a closed "
        "intent is recorded and sends it to NEEDS_REVIEW."
    ),
    values={
        intents.IntentStatus.PENDING: (
            "Waiting for the payer: the QR code and deeplinks can be paid until "
            "expiresAt."
        ),
        intents.IntentStatus.PAID: (
            "QPay took exactly the amount asked; the payment is recorded on the "
            "invoice (PaymentStatusEvent.settled is true)."
        ),
        intents.IntentStatus.CANCELLED: (
            "Closed unpaid: by cancelQPayInvoice, because the invoice was paid "
            "by other means, or because its creation was given up; its QR takes "
            "no money. Also a review resolved with no money to keep."
        ),
        intents.IntentStatus.EXPIRED: (
            "Not paid by expiresAt: checked once more, cancelled at QPay, "
            "closed. Make a new intent to pay."
        ),
        intents.IntentStatus.NEEDS_REVIEW: (
            "Money a person must look at (see reviewReason): less or more than "
            "asked, money after it closed, a foreign currency or an unreadable "
            "row. The money is recorded; staff close it with resolveQPayReview."
        ),
        intents.IntentStatus.REFUNDED: (
            "All of its money was given back (refundPayment, a review's "
            "REFUND_EXCESS, or a refund made in QPay's portal)."
        ),
    },
)
described_enum(
    qpay_messages.QPayEnvironment,
    name="QPayEnvironment",
    description="Which QPay an intent was made at (the server's QPAY_ENV).",
    values={
        qpay_messages.QPayEnvironment.MOCK: (
            "The built-in QPay simulator (development): no real money."
        ),
        qpay_messages.QPayEnvironment.SANDBOX: "QPay's test system: no real money.",
        qpay_messages.QPayEnvironment.LIVE: "QPay's production system: real money.",
    },
)
described_enum(
    ebarimt.EbarimtReceiverType,
    name="EbarimtReceiverType",
    description="Whom an e-Barimt (VAT e-receipt) is made out to.",
    values={
        ebarimt.EbarimtReceiverType.CITIZEN: (
            "A private person; `receiver` (their identifier for the receipt) is "
            "optional."
        ),
        ebarimt.EbarimtReceiverType.COMPANY: (
            "A company; `receiver` is its register number (TIN)."
        ),
    },
)
described_enum(
    ebarimt.EbarimtStatus,
    name="EbarimtStatus",
    description=(
        "Where an e-Barimt receipt stands. It is issued after the payment is "
        "recorded, by a background worker; a failure never undoes the payment."
    ),
    values={
        ebarimt.EbarimtStatus.PENDING: (
            "Queued or being issued (retried with backoff after a failure)."
        ),
        ebarimt.EbarimtStatus.ISSUED: ("Issued at QPay: lottery and qrData are set."),
        ebarimt.EbarimtStatus.FAILED: (
            "Could not be issued (or returned) after its tries; lastError says "
            "why, for staff."
        ),
        ebarimt.EbarimtStatus.VOIDING: (
            "Its payment was refunded: the receipt is being cancelled at QPay. "
            "It no longer stands."
        ),
        ebarimt.EbarimtStatus.VOIDED: (
            "Cancelled (its payment was refunded). It no longer stands."
        ),
    },
)
described_enum(
    errors.ErrorCode,
    name="ErrorCode",
    description=(
        "Why an operation was refused: `UserError.code` in a payload, or "
        "`extensions.code` of a GraphQL error. A mutation that answers one has "
        "written nothing, except money QPay really moved, which is always "
        "recorded (the mutations' descriptions say when)."
    ),
    values={
        errors.ErrorCode.NOT_FOUND: (
            "No such object: the id names no invoice, payment or QPay intent "
            "(an intent whose QPay invoice was never made counts as none)."
        ),
        errors.ErrorCode.INVALID_INPUT: (
            "An argument is malformed or not allowed here: an id that is not a "
            "UUID; text that is empty, too long or has control characters; an "
            "invoice number already used; an argument the method needs "
            "(qpayIntentId for QPAY, idempotencyKey otherwise) or forbids; a bad "
            "cursor, page size or period; REFUND_EXCESS with no excess; an "
            "intent made at another QPay environment. `field` names the "
            "argument when there is one."
        ),
        errors.ErrorCode.INVALID_AMOUNT: (
            f"An amount of 0.00 or less, with more than 2 decimals, or above "
            f"{MAX_AMOUNT}; or one the operation does not allow (settleInvoice "
            "QPAY: not the intent's amount; refundPayment of a QPay payment: not "
            "the whole payment)."
        ),
        errors.ErrorCode.AMOUNT_EXCEEDS_BALANCE: (
            "The amount is more than the invoice's balance."
        ),
        errors.ErrorCode.INVOICE_ALREADY_PAID: (
            "The invoice's balance is 0.00 (PAID or OVERPAID): nothing is left to pay."
        ),
        errors.ErrorCode.INVOICE_VOID: "The invoice is VOID: it takes no payment.",
        errors.ErrorCode.METHOD_DISABLED: (
            "The payment method is turned off (paymentMethods shows enabled: false)."
        ),
        errors.ErrorCode.PAYMENT_NOT_CONFIRMED: (
            "settleInvoice with QPAY: QPay does not show the intent paid in full "
            "(nothing, or only part of it, is paid)."
        ),
        errors.ErrorCode.INTENT_NOT_PENDING: (
            "cancelQPayInvoice of an intent that is PAID, EXPIRED, NEEDS_REVIEW "
            "or REFUNDED: only a PENDING intent can be cancelled."
        ),
        errors.ErrorCode.IDEMPOTENCY_CONFLICT: (
            "The idempotencyKey was used before with a different input; nothing "
            "was done. A new request needs a new key."
        ),
        errors.ErrorCode.QPAY_UNAVAILABLE: (
            "QPay did not answer in time, answered with a server error or "
            "garbage, or another request is still creating the same QPay "
            "invoice. Safe to try again (createQPayInvoice then makes a new QPay "
            "invoice). A refund whose QPay answer was lost comes back PENDING "
            "with this code."
        ),
        errors.ErrorCode.QPAY_REJECTED: (
            "QPay refused the request with an error code of its own (in the message)."
        ),
        errors.ErrorCode.FORBIDDEN: (
            "Not allowed for this viewer: a checkout screen reading a staff-only "
            "field, paymentStatus with a wrong or missing clientSecret, "
            "paymentEvents without a staff token, or a staff token that expired "
            "on an open websocket."
        ),
        errors.ErrorCode.RATE_LIMITED: (
            "checkQPayPayment was called too often for this intent in the last "
            f"minute (QPay itself is asked at most once per "
            f"{CHECK_WINDOW_SECONDS:g} s). Wait; paymentStatus pushes the "
            "result anyway."
        ),
        errors.ErrorCode.REFUND_NOT_SUPPORTED: (
            "QPay cannot give this money back: it refunds card payments only, "
            "and whole (a bank-app P2P payment, or a review's excess that is not "
            "a whole card payment). Nothing changed: give it back another way."
        ),
        errors.ErrorCode.REFUND_EXCEEDS_PAYMENT: (
            "More than is left of the payment to refund "
            "(Payment.refundableAmount), nothing left, or a QPay refund of it "
            "is already under way."
        ),
        errors.ErrorCode.NOT_IN_REVIEW: (
            "resolveQPayReview of an intent that is not in NEEDS_REVIEW (never "
            "was, or already resolved)."
        ),
    },
)
described_enum(
    history.PaymentEventKind,
    name="PaymentEventKind",
    description="What one entry of an invoice's history records.",
    values={
        history.PaymentEventKind.PAYMENT_RECORDED: (
            "A payment was recorded (`payment`; `intent` too for a QPay payment)."
        ),
        history.PaymentEventKind.INTENT_CHANGED: (
            "A QPay intent changed (`intent`; its new status in `intentStatus`)."
        ),
        history.PaymentEventKind.REFUND_RECORDED: (
            "A refund completed or failed (`refund` and `payment`; `intent` too "
            "for a QPay payment)."
        ),
        history.PaymentEventKind.RECEIPT_CHANGED: (
            "A payment's e-Barimt receipt was issued, failed or returned "
            "(`payment` and `intent`; the receipt is `payment.ebarimt`)."
        ),
    },
)
described_enum(
    intents.ReviewReason,
    name="QPayReviewReason",
    description="Why an intent went to NEEDS_REVIEW (its first cause).",
    values={
        intents.ReviewReason.SHORT_PAID: ("QPay took less than the intent's amount."),
        intents.ReviewReason.OVERPAID: (
            "QPay took more than asked (e.g. a second scan of a paid QR)."
        ),
        intents.ReviewReason.LATE: (
            "Money came after the intent was cancelled, expired or refunded."
        ),
        intents.ReviewReason.FOREIGN_CURRENCY: (
            "A payment in a currency other than MNT: recorded, not counted on "
            "the invoice."
        ),
        intents.ReviewReason.MALFORMED_ROW: (
            "QPay listed a payment that cannot be recorded as sent (amount 0, a "
            "third decimal, an over-long id): details in lastError."
        ),
    },
)
described_enum(
    intents.ReviewResolution,
    name="ReviewResolution",
    description="How a person closes an intent's review (resolveQPayReview).",
    values={
        intents.ReviewResolution.ACCEPT: (
            "Keep the money as recorded: the intent becomes PAID (CANCELLED when "
            "it holds none)."
        ),
        intents.ReviewResolution.REFUND_EXCESS: (
            "Refund through QPay what the invoice holds above its total, as "
            "whole card payments of this intent, then close the review (PAID, "
            "or REFUNDED when all its money went back)."
        ),
    },
)
described_enum(
    refunds.RefundStatus,
    name="RefundStatus",
    description="Where a refund stands; only COMPLETED moves money.",
    values={
        refunds.RefundStatus.PENDING: (
            "Sent to QPay, answer not known yet: it holds its amount (no second "
            "refund of that money meanwhile); the service asks QPay until it "
            "knows."
        ),
        refunds.RefundStatus.COMPLETED: (
            "Given back: the invoice's (and the intent's) paidAmount went down by it."
        ),
        refunds.RefundStatus.FAILED: (
            "Not given back: QPay shows the payment still paid. Nothing moved."
        ),
    },
)
described_enum(
    refunds.RefundChannel,
    name="RefundChannel",
    description="How a refund's money went back.",
    values={
        refunds.RefundChannel.QPAY: (
            "Through QPay's refund endpoint (a QPay card payment, whole)."
        ),
        refunds.RefundChannel.DESK: (
            "Given back by staff outside QPay (cash, a transfer back); any part."
        ),
        refunds.RefundChannel.OUTSIDE: (
            "Found refunded at QPay (made in its merchant portal), recorded by "
            "the service."
        ),
    },
)

PaymentMethod = payments.PaymentMethod
InvoiceStatus = invoices.InvoiceStatus
QPayIntentStatus = intents.IntentStatus
QPayEnvironment = qpay_messages.QPayEnvironment
EbarimtReceiverType = ebarimt.EbarimtReceiverType
EbarimtStatus = ebarimt.EbarimtStatus
ErrorCode = errors.ErrorCode
PaymentEventKind = history.PaymentEventKind
QPayReviewReason = intents.ReviewReason
ReviewResolution = intents.ReviewResolution
RefundStatus = refunds.RefundStatus
RefundChannel = refunds.RefundChannel


def possible_errors(*codes: errors.ErrorCode) -> str:
    """A sentence naming the codes an operation's UserErrors can carry."""
    return " Error codes: " + ", ".join(code.value for code in codes) + "."


__all__ = [
    "EbarimtReceiverType",
    "EbarimtStatus",
    "ErrorCode",
    "InvoiceStatus",
    "PaymentEventKind",
    "PaymentMethod",
    "QPayEnvironment",
    "QPayIntentStatus",
    "QPayReviewReason",
    "RefundChannel",
    "RefundStatus",
    "ReviewResolution",
    "described_enum",
    "possible_errors",
]
