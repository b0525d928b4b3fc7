"""What the repositories share: their tables, and SQL helpers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from sqlalchemy import Table, func, literal
from sqlalchemy.dialects.postgresql import JSONB

from persistence.tables import (
    EbarimtReceiptRow,
    IdempotencyKeyRow,
    InvoiceRow,
    PaymentMethodConfigRow,
    PaymentRow,
    QPayCallbackRow,
    QPayIntentRow,
    QPayLedgerFlagRow,
    QPayLedgerSweepRow,
)

invoices = cast(Table, InvoiceRow.__table__)
payments = cast(Table, PaymentRow.__table__)
intents = cast(Table, QPayIntentRow.__table__)
receipts = cast(Table, EbarimtReceiptRow.__table__)
idempotency_keys = cast(Table, IdempotencyKeyRow.__table__)
method_configs = cast(Table, PaymentMethodConfigRow.__table__)
callbacks = cast(Table, QPayCallbackRow.__table__)
sweeps = cast(Table, QPayLedgerSweepRow.__table__)
flags = cast(Table, QPayLedgerFlagRow.__table__)

# Told when the database refused a statement: the transaction is aborted
# (the unit of work then refuses to commit).
Refused = Callable[[str], None]


def cast_jsonb(value: Mapping[str, object]) -> Any:
    """A bound JSONB value (for `raw || :value`)."""
    return literal(dict(value), type_=JSONB)


def interval(value: float) -> Any:
    """An SQL interval of `value` seconds."""
    return func.make_interval(0, 0, 0, 0, 0, 0, value)
