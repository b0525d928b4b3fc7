"""createInvoice takes an idempotency key: its invoice FK is checked at commit.

createInvoice claims the key (with the id of the invoice it is about to
insert) before the insert, so a double-click waits for the first request and
replays it instead of failing on a duplicate number; the foreign key from
idempotency_keys to invoices is therefore DEFERRABLE INITIALLY DEFERRED.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSTRAINT = "fk_idempotency_keys_invoice_id_invoices"


def upgrade() -> None:
    op.execute(
        f"ALTER TABLE idempotency_keys ALTER CONSTRAINT {CONSTRAINT}"
        " DEFERRABLE INITIALLY DEFERRED"
    )


def downgrade() -> None:
    op.execute(
        f"ALTER TABLE idempotency_keys ALTER CONSTRAINT {CONSTRAINT} NOT DEFERRABLE"
    )
