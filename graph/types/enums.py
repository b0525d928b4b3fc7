"""The contract's enums are the domain's own, registered with Strawberry.

`strawberry.enum` marks the domain classes, so resolvers annotate fields with
the domain enums directly (Strawberry's documented way to expose an existing
enum); the domain package itself stays free of Strawberry.
"""

from __future__ import annotations

import strawberry

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

strawberry.enum(payments.PaymentMethod, name="PaymentMethod")
strawberry.enum(invoices.InvoiceStatus, name="InvoiceStatus")
strawberry.enum(intents.IntentStatus, name="QPayIntentStatus")
strawberry.enum(qpay_messages.QPayEnvironment, name="QPayEnvironment")
strawberry.enum(ebarimt.EbarimtReceiverType, name="EbarimtReceiverType")
strawberry.enum(ebarimt.EbarimtStatus, name="EbarimtStatus")
strawberry.enum(errors.ErrorCode, name="ErrorCode")
strawberry.enum(history.PaymentEventKind, name="PaymentEventKind")
strawberry.enum(intents.ReviewReason, name="QPayReviewReason")
strawberry.enum(intents.ReviewResolution, name="ReviewResolution")
strawberry.enum(refunds.RefundStatus, name="RefundStatus")
strawberry.enum(refunds.RefundChannel, name="RefundChannel")

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
]
