"""Pages newest first: (created_at, id) indexes on invoices and intents.

The staff lists (design.md §8) read `ORDER BY created_at DESC, id DESC` with
a keyset `(created_at, id) < (:t, :id)`; these indexes serve that order
without a sort. The (status, id) index served the old id-ordered list by
status and gives way to (status, created_at, id).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_invoices_newest", "invoices", ["created_at", "id"])
    op.create_index(
        "ix_invoices_status_newest", "invoices", ["status", "created_at", "id"]
    )
    op.drop_index("ix_invoices_status_id", table_name="invoices")
    op.create_index("ix_qpay_intents_newest", "qpay_intents", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_qpay_intents_newest", table_name="qpay_intents")
    op.create_index("ix_invoices_status_id", "invoices", ["status", "id"])
    op.drop_index("ix_invoices_status_newest", table_name="invoices")
    op.drop_index("ix_invoices_newest", table_name="invoices")
