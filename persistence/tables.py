"""SQLAlchemy 2 tables (design.md §4). Money NUMERIC(14,2), times timestamptz.

Constraint names come from the naming convention so Alembic diffs stay stable.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    Sequence,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

REVIEW_REASONS = (
    "SHORT_PAID",
    "OVERPAID",
    "LATE",
    "FOREIGN_CURRENCY",
    "MALFORMED_ROW",
)
PAYMENT_METHODS = ("CASH", "CARD", "QPAY", "BANK_TRANSFER", "INSURANCE")
INVOICE_STATUSES = ("UNPAID", "PARTIALLY_PAID", "PAID", "OVERPAID", "VOID")
INTENT_STATUSES = (
    "PENDING",
    "PAID",
    "CANCELLED",
    "EXPIRED",
    "NEEDS_REVIEW",
    "REFUNDED",
)
QPAY_ENVIRONMENTS = ("MOCK", "SANDBOX", "LIVE")
RECEIVER_TYPES = ("CITIZEN", "COMPANY")
EBARIMT_STATUSES = ("PENDING", "ISSUED", "FAILED", "VOIDING", "VOIDED")
REFUND_STATUSES = ("PENDING", "COMPLETED", "FAILED")
REFUND_CHANNELS = ("QPAY", "DESK", "OUTSIDE")
REVIEW_RESOLUTIONS = ("ACCEPT", "REFUND_EXCESS")
LEDGER_FLAG_KINDS = ("UNMATCHED", "REFUNDED", "MISMATCH", "MALFORMED", "UNCONFIRMED")

Money = Numeric(14, 2, asdecimal=True)
Timestamp = DateTime(timezone=True)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({listed})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


invoice_number_seq = Sequence("invoice_number_seq", metadata=Base.metadata)


class InvoiceRow(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint("total > 0", name="total_positive"),
        CheckConstraint("paid_amount >= 0", name="paid_amount_not_negative"),
        CheckConstraint(_one_of("status", INVOICE_STATUSES), name="status"),
        # Staff pages, newest first (design.md §8; migration 0005).
        Index("ix_invoices_newest", "created_at", "id"),
        Index("ix_invoices_status_newest", "status", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str | None] = mapped_column(String(1000))
    total: Mapped[Decimal] = mapped_column(Money)
    paid_amount: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class PaymentRow(Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(_one_of("method", PAYMENT_METHODS), name="method"),
        CheckConstraint(
            "method = 'QPAY' OR qpay_txn_id IS NULL", name="qpay_txn_only_for_qpay"
        ),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_code"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"), index=True)
    intent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("qpay_intents.id"), index=True
    )
    method: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Money)
    # ISO 4217. Only MNT counts towards an invoice; QPay money in another
    # currency is recorded (never dropped) and its intent goes to review.
    currency: Mapped[str] = mapped_column(String(3), server_default="MNT")
    # QPay's payment_id: the last guard against counting one payment twice.
    qpay_txn_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class PaymentMethodConfigRow(Base):
    __tablename__ = "payment_method_configs"
    __table_args__ = (
        CheckConstraint(_one_of("method", PAYMENT_METHODS), name="method"),
    )

    method: Mapped[str] = mapped_column(String(16), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    label: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class QPayIntentRow(Base):
    __tablename__ = "qpay_intents"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("paid_amount >= 0", name="paid_amount_not_negative"),
        CheckConstraint(_one_of("status", INTENT_STATUSES), name="status"),
        CheckConstraint(_one_of("environment", QPAY_ENVIRONMENTS), name="environment"),
        CheckConstraint(
            "review_reason IS NULL OR " + _one_of("review_reason", REVIEW_REASONS),
            name="review_reason",
        ),
        CheckConstraint(
            "review_resolution IS NULL OR "
            + _one_of("review_resolution", REVIEW_RESOLUTIONS),
            name="review_resolution",
        ),
        CheckConstraint(
            "ebarimt_receiver_type IS NULL OR "
            + _one_of("ebarimt_receiver_type", RECEIVER_TYPES),
            name="ebarimt_receiver_type",
        ),
        Index(None, "object_type", "object_id"),
        Index("ix_qpay_intents_newest", "created_at", "id"),
        # The poller's claim query: due, open intents in next_check_at order.
        Index(
            "ix_qpay_intents_due",
            "next_check_at",
            postgresql_where=text("status = 'PENDING' AND qpay_invoice_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"), index=True)
    object_type: Mapped[str] = mapped_column(String(32), server_default="INVOICE")
    object_id: Mapped[str] = mapped_column(String(64))
    environment: Mapped[str] = mapped_column(String(8))
    amount: Mapped[Decimal] = mapped_column(Money)
    paid_amount: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    qpay_invoice_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    sender_invoice_no: Mapped[str] = mapped_column(String(45), unique=True)
    description: Mapped[str | None] = mapped_column(String(255))
    qr_text: Mapped[str] = mapped_column(Text, server_default="")
    qr_image: Mapped[str] = mapped_column(Text, server_default="")
    short_url: Mapped[str | None] = mapped_column(String(255))
    deeplinks: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, server_default=text("'[]'::jsonb")
    )
    qpay_payment_id: Mapped[str | None] = mapped_column(String(64))
    # The last answers QPay gave about this intent, for audit.
    raw: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb")
    )
    client_secret_hashes: Mapped[list[str]] = mapped_column(
        ARRAY(String(64)), server_default=text("'{}'")
    )
    callback_token_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    next_check_at: Mapped[datetime] = mapped_column(
        Timestamp, server_default=func.now()
    )
    lease_until: Mapped[datetime | None] = mapped_column(Timestamp)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    check_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_checked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    watched_until: Mapped[datetime | None] = mapped_column(Timestamp)
    ebarimt_receiver_type: Mapped[str | None] = mapped_column(String(16))
    ebarimt_receiver: Mapped[str | None] = mapped_column(String(64))
    review_reason: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(String(1000))
    # How a person closed its review (resolveQPayReview), who, why and when.
    review_resolution: Mapped[str | None] = mapped_column(String(16))
    review_note: Mapped[str | None] = mapped_column(String(1000))
    reviewed_by: Mapped[str | None] = mapped_column(String(255))
    reviewed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class EbarimtReceiptRow(Base):
    __tablename__ = "ebarimt_receipts"
    __table_args__ = (
        CheckConstraint(_one_of("status", EBARIMT_STATUSES), name="status"),
        CheckConstraint(_one_of("receiver_type", RECEIVER_TYPES), name="receiver_type"),
        Index(
            "ix_ebarimt_receipts_due",
            "next_attempt_at",
            postgresql_where=text("status = 'PENDING'"),
        ),
        # Receipts of refunded payments, to be cancelled at QPay (migration 0009).
        Index(
            "ix_ebarimt_receipts_voiding",
            "next_attempt_at",
            postgresql_where=text("status = 'VOIDING'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # One e-Barimt receipt per payment.
    payment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("payments.id"), unique=True
    )
    intent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("qpay_intents.id"))
    status: Mapped[str] = mapped_column(String(16))
    receiver_type: Mapped[str] = mapped_column(String(16))
    receiver: Mapped[str | None] = mapped_column(String(64))
    ebarimt_id: Mapped[str | None] = mapped_column(String(64))
    lottery: Mapped[str | None] = mapped_column(String(64))
    qr_data: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(
        Timestamp, server_default=func.now()
    )
    lease_until: Mapped[datetime | None] = mapped_column(Timestamp)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    # Set before a create is sent; cleared when its outcome is known. While
    # set, a create may have reached QPay: it is never simply sent again.
    uncertain_since: Mapped[datetime | None] = mapped_column(Timestamp)
    raw: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb")
    )
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class IdempotencyKeyRow(Base):
    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    # Deferred: createInvoice claims its key before inserting the invoice
    # (migration 0006).
    invoice_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("invoices.id", deferrable=True, initially="DEFERRED")
    )
    payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payments.id"))
    # A refundPayment key: deleted with its refund when QPay refused it.
    refund_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("refunds.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class QPayCallbackRow(Base):
    __tablename__ = "qpay_callbacks"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    intent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("qpay_intents.id"), index=True
    )
    method: Mapped[str] = mapped_column(String(8))
    # The query string without our token (a secret), and QPay's payment id hint.
    query: Mapped[dict[str, Any]] = mapped_column(JSONB)
    qpay_payment_id: Mapped[str | None] = mapped_column(String(64))
    headers: Mapped[dict[str, Any]] = mapped_column(JSONB)
    body: Mapped[str] = mapped_column(Text, server_default="")
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class QPayLedgerSweepRow(Base):
    """One per QPay environment: the ledger sweep's cursor and lease."""

    __tablename__ = "qpay_ledger_sweeps"
    __table_args__ = (
        CheckConstraint(_one_of("environment", QPAY_ENVIRONMENTS), name="environment"),
    )

    environment: Mapped[str] = mapped_column(String(8), primary_key=True)
    # QPay's ledger matched ours up to here (None before the first sweep).
    swept_until: Mapped[datetime | None] = mapped_column(Timestamp)
    next_run_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class QPayLedgerFlagRow(Base):
    """What the ledger comparison found for a person: one per environment,
    kind and QPay payment id."""

    __tablename__ = "qpay_ledger_flags"
    __table_args__ = (
        CheckConstraint(_one_of("kind", LEDGER_FLAG_KINDS), name="kind"),
        CheckConstraint(_one_of("environment", QPAY_ENVIRONMENTS), name="environment"),
        UniqueConstraint("environment", "kind", "qpay_payment_id"),
        Index(
            "ix_qpay_ledger_flags_open",
            "environment",
            "first_seen_at",
            postgresql_where=text("resolved_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    qpay_payment_id: Mapped[str] = mapped_column(String(64))
    qpay_invoice_id: Mapped[str | None] = mapped_column(String(64))
    # QPay's figures as listed; None when they do not fit (see `detail`).
    amount: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(1000))
    first_seen_at: Mapped[datetime] = mapped_column(Timestamp)
    last_seen_at: Mapped[datetime] = mapped_column(Timestamp)
    resolved_at: Mapped[datetime | None] = mapped_column(Timestamp)


class RefundRow(Base):
    """Money given back on a payment (design.md §8; migration 0009)."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(_one_of("status", REFUND_STATUSES), name="status"),
        CheckConstraint(_one_of("channel", REFUND_CHANNELS), name="channel"),
        CheckConstraint(
            "(status = 'COMPLETED') = (completed_at IS NOT NULL)",
            name="completed_at",
        ),
        Index(
            "ix_refunds_completed",
            "completed_at",
            postgresql_where=text("status = 'COMPLETED'"),
        ),
        Index(
            "ix_refunds_pending",
            "created_at",
            postgresql_where=text("status = 'PENDING'"),
        ),
        # QPay refunds a payment whole, once: the last guard against recording
        # one QPay refund twice (ours, and the one found refunded at QPay).
        Index(
            "uq_refunds_qpay_once",
            "payment_id",
            unique=True,
            postgresql_where=text("channel <> 'DESK' AND status <> 'FAILED'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"), index=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"))
    intent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("qpay_intents.id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(16))
    # QPAY: through QPay's refund endpoint; DESK: given back by staff;
    # OUTSIDE: found refunded at QPay (its merchant portal).
    channel: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(1000))
    # A staff token's sub; NULL when the service found the refund at QPay.
    actor: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)
    completed_at: Mapped[datetime | None] = mapped_column(Timestamp)


metadata = Base.metadata


PAYMENT_EVENT_KINDS = (
    "PAYMENT_RECORDED",
    "INTENT_CHANGED",
    "REFUND_RECORDED",
    "RECEIPT_CHANGED",
)


class PaymentEventRow(Base):
    """An invoice's history, append-only: one row per domain event of a
    committed transaction (domain/history.py)."""

    __tablename__ = "payment_events"
    __table_args__ = (
        CheckConstraint(_one_of("kind", PAYMENT_EVENT_KINDS), name="kind"),
        Index("ix_payment_events_invoice", "invoice_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"))
    kind: Mapped[str] = mapped_column(String(24))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    intent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    receipt_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    refund_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    intent_status: Mapped[str | None] = mapped_column(String(16))
    # A staff token's sub; NULL when the service acted on its own.
    actor: Mapped[str | None] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
