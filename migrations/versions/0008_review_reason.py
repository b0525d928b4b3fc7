"""qpay_intents.review_reason: why an intent went to NEEDS_REVIEW.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REASONS = ("SHORT_PAID", "OVERPAID", "LATE", "FOREIGN_CURRENCY", "MALFORMED_ROW")


def upgrade() -> None:
    op.add_column(
        "qpay_intents", sa.Column("review_reason", sa.String(length=16), nullable=True)
    )
    listed = ", ".join(f"'{reason}'" for reason in REASONS)
    op.create_check_constraint(
        "review_reason",
        "qpay_intents",
        f"review_reason IS NULL OR review_reason IN ({listed})",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_qpay_intents_review_reason"), "qpay_intents", type_="check"
    )
    op.drop_column("qpay_intents", "review_reason")
