"""The ledger sweep: its cursor and lease per QPay environment, and its flags.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENVIRONMENTS = "environment IN ('MOCK', 'SANDBOX', 'LIVE')"
KINDS = "kind IN ('UNMATCHED', 'REFUNDED', 'MISMATCH', 'MALFORMED', 'UNCONFIRMED')"


def upgrade() -> None:
    op.create_table(
        "qpay_ledger_sweeps",
        sa.Column("environment", sa.String(length=8), nullable=False),
        sa.Column("swept_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "next_run_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            ENVIRONMENTS, name=op.f("ck_qpay_ledger_sweeps_environment")
        ),
        sa.PrimaryKeyConstraint("environment", name=op.f("pk_qpay_ledger_sweeps")),
    )
    op.create_table(
        "qpay_ledger_flags",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("environment", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("qpay_payment_id", sa.String(length=64), nullable=False),
        sa.Column("qpay_invoice_id", sa.String(length=64), nullable=True),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.String(length=1000), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(KINDS, name=op.f("ck_qpay_ledger_flags_kind")),
        sa.CheckConstraint(ENVIRONMENTS, name=op.f("ck_qpay_ledger_flags_environment")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qpay_ledger_flags")),
        sa.UniqueConstraint(
            "environment",
            "kind",
            "qpay_payment_id",
            name=op.f("uq_qpay_ledger_flags_environment_kind_qpay_payment_id"),
        ),
    )
    op.create_index(
        "ix_qpay_ledger_flags_open",
        "qpay_ledger_flags",
        ["environment", "first_seen_at"],
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    # The ledger sweep looks intents up by their QPay invoice id, which is
    # unique (so indexed) already; payments by QPay payment id, likewise.


def downgrade() -> None:
    op.drop_index("ix_qpay_ledger_flags_open", table_name="qpay_ledger_flags")
    op.drop_table("qpay_ledger_flags")
    op.drop_table("qpay_ledger_sweeps")
