"""e-Barimt at most once: a lease owner, and a mark on a create whose outcome
is unknown.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "ebarimt_receipts",
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
    )
    op.add_column(
        "ebarimt_receipts",
        sa.Column("uncertain_since", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("ebarimt_receipts", "uncertain_since")
    op.drop_column("ebarimt_receipts", "lease_owner")
