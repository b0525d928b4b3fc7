"""Initial schema: every table of design.md §4, and the payment methods seeded.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 00:41:36.665628
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


PAYMENT_METHODS = [
    ("QPAY", "QPay", 1),
    ("CASH", "Бэлэн мөнгө / Cash", 2),
    ("CARD", "Карт / Card", 3),
    ("BANK_TRANSFER", "Дансны шилжүүлэг / Bank transfer", 4),
    ("INSURANCE", "Даатгал / Insurance", 5),
]


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("invoice_number_seq")))
    op.create_table(
        "invoices",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("total", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column(
            "paid_amount",
            sa.Numeric(precision=14, scale=2),
            server_default=sa.text("0"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('UNPAID', 'PARTIALLY_PAID', 'PAID', 'OVERPAID', 'VOID')",
            name=op.f("ck_invoices_status"),
        ),
        sa.CheckConstraint(
            "paid_amount >= 0", name=op.f("ck_invoices_paid_amount_not_negative")
        ),
        sa.CheckConstraint("total > 0", name=op.f("ck_invoices_total_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("number", name=op.f("uq_invoices_number")),
    )
    op.create_index(
        op.f("ix_invoices_status_id"), "invoices", ["status", "id"], unique=False
    )
    op.create_table(
        "payment_method_configs",
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column(
            "enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False
        ),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column(
            "position", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
        sa.CheckConstraint(
            "method IN ('CASH', 'CARD', 'QPAY', 'BANK_TRANSFER', 'INSURANCE')",
            name=op.f("ck_payment_method_configs_method"),
        ),
        sa.PrimaryKeyConstraint("method", name=op.f("pk_payment_method_configs")),
    )
    op.create_table(
        "qpay_intents",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("invoice_id", sa.UUID(), nullable=False),
        sa.Column(
            "object_type",
            sa.String(length=32),
            server_default="INVOICE",
            nullable=False,
        ),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("environment", sa.String(length=8), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column(
            "paid_amount",
            sa.Numeric(precision=14, scale=2),
            server_default=sa.text("0"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("qpay_invoice_id", sa.String(length=64), nullable=True),
        sa.Column("sender_invoice_no", sa.String(length=45), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("qr_text", sa.Text(), server_default="", nullable=False),
        sa.Column("qr_image", sa.Text(), server_default="", nullable=False),
        sa.Column("short_url", sa.String(length=255), nullable=True),
        sa.Column(
            "deeplinks",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("qpay_payment_id", sa.String(length=64), nullable=True),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "client_secret_hashes",
            postgresql.ARRAY(sa.String(length=64)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("callback_token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "next_check_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column(
            "check_count", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("watched_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ebarimt_receiver_type", sa.String(length=16), nullable=True),
        sa.Column("ebarimt_receiver", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "ebarimt_receiver_type IS NULL OR "
            "ebarimt_receiver_type IN ('CITIZEN', 'COMPANY')",
            name=op.f("ck_qpay_intents_ebarimt_receiver_type"),
        ),
        sa.CheckConstraint(
            "environment IN ('MOCK', 'SANDBOX', 'LIVE')",
            name=op.f("ck_qpay_intents_environment"),
        ),
        sa.CheckConstraint(
            "status IN ('PENDING', 'PAID', 'CANCELLED', 'EXPIRED', "
            "'NEEDS_REVIEW', 'REFUNDED')",
            name=op.f("ck_qpay_intents_status"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_qpay_intents_amount_positive")),
        sa.CheckConstraint(
            "paid_amount >= 0", name=op.f("ck_qpay_intents_paid_amount_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_qpay_intents_invoice_id_invoices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qpay_intents")),
        sa.UniqueConstraint(
            "qpay_invoice_id", name=op.f("uq_qpay_intents_qpay_invoice_id")
        ),
        sa.UniqueConstraint(
            "sender_invoice_no", name=op.f("uq_qpay_intents_sender_invoice_no")
        ),
    )
    op.create_index(
        "ix_qpay_intents_due",
        "qpay_intents",
        ["next_check_at"],
        unique=False,
        postgresql_where=sa.text("status = 'PENDING' AND qpay_invoice_id IS NOT NULL"),
    )
    op.create_index(
        op.f("ix_qpay_intents_invoice_id"), "qpay_intents", ["invoice_id"], unique=False
    )
    op.create_index(
        op.f("ix_qpay_intents_object_type_object_id"),
        "qpay_intents",
        ["object_type", "object_id"],
        unique=False,
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("invoice_id", sa.UUID(), nullable=False),
        sa.Column("intent_id", sa.UUID(), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("qpay_txn_id", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "method = 'QPAY' OR qpay_txn_id IS NULL",
            name=op.f("ck_payments_qpay_txn_only_for_qpay"),
        ),
        sa.CheckConstraint(
            "method IN ('CASH', 'CARD', 'QPAY', 'BANK_TRANSFER', 'INSURANCE')",
            name=op.f("ck_payments_method"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payments_amount_positive")),
        sa.ForeignKeyConstraint(
            ["intent_id"],
            ["qpay_intents.id"],
            name=op.f("fk_payments_intent_id_qpay_intents"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_payments_invoice_id_invoices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("qpay_txn_id", name=op.f("uq_payments_qpay_txn_id")),
    )
    op.create_index(
        op.f("ix_payments_intent_id"), "payments", ["intent_id"], unique=False
    )
    op.create_index(
        op.f("ix_payments_invoice_id"), "payments", ["invoice_id"], unique=False
    )
    op.create_table(
        "qpay_callbacks",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("intent_id", sa.UUID(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("query", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("qpay_payment_id", sa.String(length=64), nullable=True),
        sa.Column("headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["intent_id"],
            ["qpay_intents.id"],
            name=op.f("fk_qpay_callbacks_intent_id_qpay_intents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qpay_callbacks")),
    )
    op.create_index(
        op.f("ix_qpay_callbacks_intent_id"),
        "qpay_callbacks",
        ["intent_id"],
        unique=False,
    )
    op.create_table(
        "ebarimt_receipts",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("payment_id", sa.UUID(), nullable=False),
        sa.Column("intent_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("receiver_type", sa.String(length=16), nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=True),
        sa.Column("ebarimt_id", sa.String(length=64), nullable=True),
        sa.Column("lottery", sa.String(length=64), nullable=True),
        sa.Column("qr_data", sa.Text(), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column(
            "attempts", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "receiver_type IN ('CITIZEN', 'COMPANY')",
            name=op.f("ck_ebarimt_receipts_receiver_type"),
        ),
        sa.CheckConstraint(
            "status IN ('PENDING', 'ISSUED', 'FAILED')",
            name=op.f("ck_ebarimt_receipts_status"),
        ),
        sa.ForeignKeyConstraint(
            ["intent_id"],
            ["qpay_intents.id"],
            name=op.f("fk_ebarimt_receipts_intent_id_qpay_intents"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_ebarimt_receipts_payment_id_payments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ebarimt_receipts")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_ebarimt_receipts_payment_id")),
    )
    op.create_index(
        "ix_ebarimt_receipts_due",
        "ebarimt_receipts",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.UUID(), nullable=False),
        sa.Column("payment_id", sa.UUID(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_idempotency_keys_invoice_id_invoices"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_idempotency_keys_payment_id_payments"),
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_idempotency_keys")),
    )
    configs = sa.table(
        "payment_method_configs",
        sa.column("method", sa.String),
        sa.column("enabled", sa.Boolean),
        sa.column("label", sa.String),
        sa.column("position", sa.Integer),
    )
    op.bulk_insert(
        configs,
        [
            {"method": method, "enabled": True, "label": label, "position": position}
            for method, label, position in PAYMENT_METHODS
        ],
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_index(
        "ix_ebarimt_receipts_due",
        table_name="ebarimt_receipts",
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.drop_table("ebarimt_receipts")
    op.drop_index(op.f("ix_qpay_callbacks_intent_id"), table_name="qpay_callbacks")
    op.drop_table("qpay_callbacks")
    op.drop_index(op.f("ix_payments_invoice_id"), table_name="payments")
    op.drop_index(op.f("ix_payments_intent_id"), table_name="payments")
    op.drop_table("payments")
    op.drop_index(
        op.f("ix_qpay_intents_object_type_object_id"), table_name="qpay_intents"
    )
    op.drop_index(op.f("ix_qpay_intents_invoice_id"), table_name="qpay_intents")
    op.drop_index(
        "ix_qpay_intents_due",
        table_name="qpay_intents",
        postgresql_where=sa.text("status = 'PENDING' AND qpay_invoice_id IS NOT NULL"),
    )
    op.drop_table("qpay_intents")
    op.drop_table("payment_method_configs")
    op.drop_index(op.f("ix_invoices_status_id"), table_name="invoices")
    op.drop_table("invoices")
    op.execute(sa.schema.DropSequence(sa.Sequence("invoice_number_seq")))
