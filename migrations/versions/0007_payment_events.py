"""payment_events: each invoice's history, append-only, with its actor.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("invoice_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("payment_id", sa.UUID(), nullable=True),
        sa.Column("intent_id", sa.UUID(), nullable=True),
        sa.Column("receipt_id", sa.UUID(), nullable=True),
        sa.Column("intent_status", sa.String(length=16), nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=True),
        sa.Column(
            "at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('PAYMENT_RECORDED', 'INTENT_CHANGED', 'REFUND_RECORDED', "
            "'RECEIPT_CHANGED')",
            name=op.f("ck_payment_events_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_payment_events_invoice_id_invoices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_events")),
    )
    op.create_index("ix_payment_events_invoice", "payment_events", ["invoice_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_payment_events_invoice", table_name="payment_events")
    op.drop_table("payment_events")
