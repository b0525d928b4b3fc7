"""payments.currency: QPay money in a foreign currency is recorded, not dropped.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "payments",
        sa.Column(
            "currency", sa.String(length=3), server_default="MNT", nullable=False
        ),
    )
    op.create_check_constraint(
        op.f("ck_payments_currency_code"), "payments", "currency ~ '^[A-Z]{3}$'"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_payments_currency_code"), "payments", type_="check")
    op.drop_column("payments", "currency")
