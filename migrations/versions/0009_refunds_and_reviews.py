"""Refunds, review resolutions and returned e-Barimt receipts (design.md §8).

- refunds: money given back on a payment (through QPay, at the desk, or
  found refunded at QPay); at most one live QPay refund per payment.
- payment_events.refund_id and idempotency_keys.refund_id.
- qpay_intents: who resolved a review, how and why.
- ebarimt_receipts: VOIDING (to be cancelled at QPay) and VOIDED.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 12:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_RECEIPT_STATUSES = "status IN ('PENDING', 'ISSUED', 'FAILED')"
RECEIPT_STATUSES = "status IN ('PENDING', 'ISSUED', 'FAILED', 'VOIDING', 'VOIDED')"


def upgrade() -> None:
    op.create_table(
        "refunds",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("payment_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("invoice_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("intent_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_refunds_amount_positive")),
        sa.CheckConstraint(
            "status IN ('PENDING', 'COMPLETED', 'FAILED')",
            name=op.f("ck_refunds_status"),
        ),
        sa.CheckConstraint(
            "channel IN ('QPAY', 'DESK', 'OUTSIDE')", name=op.f("ck_refunds_channel")
        ),
        sa.CheckConstraint(
            "(status = 'COMPLETED') = (completed_at IS NOT NULL)",
            name=op.f("ck_refunds_completed_at"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_refunds_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_refunds_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["intent_id"],
            ["qpay_intents.id"],
            name=op.f("fk_refunds_intent_id_qpay_intents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
    )
    op.create_index(op.f("ix_refunds_payment_id"), "refunds", ["payment_id"])
    op.create_index(
        "ix_refunds_completed",
        "refunds",
        ["completed_at"],
        postgresql_where=sa.text("status = 'COMPLETED'"),
    )
    op.create_index(
        "ix_refunds_pending",
        "refunds",
        ["created_at"],
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    # QPay refunds a payment whole, once: the last guard against recording
    # one QPay refund twice (ours and the one found at QPay).
    op.create_index(
        "uq_refunds_qpay_once",
        "refunds",
        ["payment_id"],
        unique=True,
        postgresql_where=sa.text("channel <> 'DESK' AND status <> 'FAILED'"),
    )
    op.add_column(
        "payment_events",
        sa.Column("refund_id", postgresql.UUID(as_uuid=True), nullable=True),
    )
    op.add_column(
        "idempotency_keys",
        sa.Column("refund_id", postgresql.UUID(as_uuid=True), nullable=True),
    )
    op.create_foreign_key(
        op.f("fk_idempotency_keys_refund_id_refunds"),
        "idempotency_keys",
        "refunds",
        ["refund_id"],
        ["id"],
        ondelete="CASCADE",
    )
    for name, column in (
        ("review_resolution", sa.String(length=16)),
        ("review_note", sa.String(length=1000)),
        ("reviewed_by", sa.String(length=255)),
        ("reviewed_at", sa.DateTime(timezone=True)),
    ):
        op.add_column("qpay_intents", sa.Column(name, column, nullable=True))
    op.create_check_constraint(
        "review_resolution",
        "qpay_intents",
        "review_resolution IS NULL OR review_resolution IN ('ACCEPT', 'REFUND_EXCESS')",
    )
    op.drop_constraint(op.f("ck_ebarimt_receipts_status"), "ebarimt_receipts")
    op.create_check_constraint("status", "ebarimt_receipts", RECEIPT_STATUSES)
    op.create_index(
        "ix_ebarimt_receipts_voiding",
        "ebarimt_receipts",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'VOIDING'"),
    )


def downgrade() -> None:
    op.drop_index("ix_ebarimt_receipts_voiding", table_name="ebarimt_receipts")
    op.drop_constraint(op.f("ck_ebarimt_receipts_status"), "ebarimt_receipts")
    op.execute(
        "UPDATE ebarimt_receipts SET status = 'FAILED' "
        "WHERE status IN ('VOIDING', 'VOIDED')"
    )
    op.create_check_constraint("status", "ebarimt_receipts", OLD_RECEIPT_STATUSES)
    op.drop_constraint(
        op.f("ck_qpay_intents_review_resolution"), "qpay_intents", type_="check"
    )
    for name in ("reviewed_at", "reviewed_by", "review_note", "review_resolution"):
        op.drop_column("qpay_intents", name)
    op.drop_constraint(
        op.f("fk_idempotency_keys_refund_id_refunds"), "idempotency_keys"
    )
    op.drop_column("idempotency_keys", "refund_id")
    op.drop_column("payment_events", "refund_id")
    op.drop_table("refunds")
