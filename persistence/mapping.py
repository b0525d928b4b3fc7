"""Row <-> domain conversions, as explicit functions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from domain.ebarimt import (
    EbarimtReceipt,
    EbarimtReceiverType,
    EbarimtRequest,
    EbarimtStatus,
)
from domain.intents import (
    IntentId,
    IntentStatus,
    QPayIntent,
    Review,
    ReviewReason,
    ReviewResolution,
)
from domain.invoices import Invoice, InvoiceId, InvoiceStatus
from domain.payments import Payment, PaymentId, PaymentMethod, PaymentMethodConfig
from domain.qpay_messages import Deeplink, QPayEnvironment
from domain.refunds import Refund, RefundChannel, RefundId, RefundStatus

RowMapping = Mapping[Any, Any]


def invoice_from_row(row: RowMapping) -> Invoice:
    return Invoice(
        id=InvoiceId(row["id"]),
        number=row["number"],
        description=row["description"],
        total=row["total"],
        paid_amount=row["paid_amount"],
        status=InvoiceStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def invoice_values(invoice: Invoice) -> dict[str, Any]:
    return {
        "id": invoice.id,
        "number": invoice.number,
        "description": invoice.description,
        "total": invoice.total,
        "paid_amount": invoice.paid_amount,
        "status": invoice.status.value,
        "created_at": invoice.created_at,
        "updated_at": invoice.updated_at,
    }


def payment_from_row(row: RowMapping) -> Payment:
    return Payment(
        id=PaymentId(row["id"]),
        invoice_id=InvoiceId(row["invoice_id"]),
        method=PaymentMethod(row["method"]),
        amount=row["amount"],
        created_at=row["created_at"],
        qpay_payment_id=row["qpay_txn_id"],
        intent_id=row["intent_id"],
        currency=row["currency"],
    )


def payment_values(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "invoice_id": payment.invoice_id,
        "intent_id": payment.intent_id,
        "method": payment.method.value,
        "amount": payment.amount,
        "currency": payment.currency,
        "qpay_txn_id": payment.qpay_payment_id,
        "created_at": payment.created_at,
    }


def method_config_from_row(row: RowMapping) -> PaymentMethodConfig:
    return PaymentMethodConfig(
        method=PaymentMethod(row["method"]),
        enabled=row["enabled"],
        label=row["label"],
    )


def intent_from_row(row: RowMapping) -> QPayIntent:
    receiver_type = row["ebarimt_receiver_type"]
    return QPayIntent(
        id=IntentId(row["id"]),
        invoice_id=InvoiceId(row["invoice_id"]),
        environment=QPayEnvironment(row["environment"]),
        amount=row["amount"],
        paid_amount=row["paid_amount"],
        status=IntentStatus(row["status"]),
        sender_invoice_no=row["sender_invoice_no"],
        version=row["version"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        qpay_invoice_id=row["qpay_invoice_id"],
        qr_text=row["qr_text"],
        qr_image=row["qr_image"],
        short_url=row["short_url"],
        deeplinks=tuple(
            Deeplink(
                name=str(link.get("name", "")),
                link=str(link.get("link", "")),
                description=link.get("description"),
                logo=link.get("logo"),
            )
            for link in row["deeplinks"] or ()
        ),
        qpay_payment_id=row["qpay_payment_id"],
        description=row["description"],
        ebarimt=(
            EbarimtRequest(EbarimtReceiverType(receiver_type), row["ebarimt_receiver"])
            if receiver_type
            else None
        ),
        last_error=row["last_error"],
        review_reason=(
            ReviewReason(row["review_reason"]) if row["review_reason"] else None
        ),
        review=_review_from_row(row),
    )


def _review_from_row(row: RowMapping) -> Review | None:
    if row["review_resolution"] is None:
        return None
    return Review(
        resolution=ReviewResolution(row["review_resolution"]),
        note=row["review_note"] or "",
        actor=row["reviewed_by"],
        at=row["reviewed_at"],
    )


def review_values(intent: QPayIntent) -> dict[str, Any]:
    review = intent.review
    return {
        "review_resolution": review.resolution.value if review else None,
        "review_note": review.note if review else None,
        "reviewed_by": review.actor if review else None,
        "reviewed_at": review.at if review else None,
    }


def refund_from_row(row: RowMapping) -> Refund:
    return Refund(
        id=RefundId(row["id"]),
        payment_id=PaymentId(row["payment_id"]),
        invoice_id=InvoiceId(row["invoice_id"]),
        amount=row["amount"],
        status=RefundStatus(row["status"]),
        channel=RefundChannel(row["channel"]),
        reason=row["reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        actor=row["actor"],
        intent_id=IntentId(row["intent_id"]) if row["intent_id"] else None,
        completed_at=row["completed_at"],
        last_error=row["last_error"],
    )


def refund_values(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "payment_id": refund.payment_id,
        "invoice_id": refund.invoice_id,
        "intent_id": refund.intent_id,
        "amount": refund.amount,
        "status": refund.status.value,
        "channel": refund.channel.value,
        "reason": refund.reason,
        "actor": refund.actor,
        "last_error": refund.last_error,
        "created_at": refund.created_at,
        "updated_at": refund.updated_at,
        "completed_at": refund.completed_at,
    }


def intent_values(intent: QPayIntent) -> dict[str, Any]:
    """The columns a change to the intent may touch (not secrets, not poller)."""
    return {
        "invoice_id": intent.invoice_id,
        "object_type": "INVOICE",
        "object_id": str(intent.invoice_id),
        "environment": intent.environment.value,
        "amount": intent.amount,
        "paid_amount": intent.paid_amount,
        "status": intent.status.value,
        "version": intent.version,
        "qpay_invoice_id": intent.qpay_invoice_id,
        "sender_invoice_no": intent.sender_invoice_no,
        "description": intent.description,
        "qr_text": intent.qr_text,
        "qr_image": intent.qr_image,
        "short_url": intent.short_url,
        "deeplinks": [
            {
                "name": link.name,
                "description": link.description,
                "logo": link.logo,
                "link": link.link,
            }
            for link in intent.deeplinks
        ],
        "qpay_payment_id": intent.qpay_payment_id,
        "expires_at": intent.expires_at,
        "ebarimt_receiver_type": (
            intent.ebarimt.receiver_type.value if intent.ebarimt else None
        ),
        "ebarimt_receiver": intent.ebarimt.receiver if intent.ebarimt else None,
        "last_error": intent.last_error,
        "review_reason": intent.review_reason.value if intent.review_reason else None,
        **review_values(intent),
        "created_at": intent.created_at,
        "updated_at": intent.updated_at,
    }


def receipt_from_row(row: RowMapping) -> EbarimtReceipt:
    return EbarimtReceipt(
        id=UUID(str(row["id"])),
        payment_id=PaymentId(row["payment_id"]),
        status=EbarimtStatus(row["status"]),
        receiver_type=EbarimtReceiverType(row["receiver_type"]),
        receiver=row["receiver"],
        lottery=row["lottery"],
        qr_data=row["qr_data"],
        last_error=row["last_error"],
        attempts=row["attempts"],
        created_at=row["created_at"],
    )
