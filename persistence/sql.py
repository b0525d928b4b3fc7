"""What the repositories share: their tables, and SQL helpers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from sqlalchemy import BindParameter, Select, Table, func, literal, tuple_
from sqlalchemy.dialects.postgresql import JSONB

from domain.pages import ListFilter, Position
from persistence.tables import (
    EbarimtReceiptRow,
    IdempotencyKeyRow,
    InvoiceRow,
    PaymentEventRow,
    PaymentMethodConfigRow,
    PaymentRow,
    QPayCallbackRow,
    QPayIntentRow,
    QPayLedgerFlagRow,
    QPayLedgerSweepRow,
    RefundRow,
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
payment_events = cast(Table, PaymentEventRow.__table__)
refunds = cast(Table, RefundRow.__table__)

# Told when the database refused a statement: the transaction is aborted
# (the unit of work then refuses to commit).
Refused = Callable[[str], None]
# A write of the transaction not sent yet: a statement and its parameters.
Pending = tuple[Any, dict[str, Any]]


def cast_jsonb(value: Mapping[str, object]) -> Any:
    """A bound JSONB value (for `raw || :value`)."""
    return literal(dict(value), type_=JSONB)


def interval(value: float | BindParameter[Any]) -> Any:
    """An SQL interval of `value` seconds (a number, or a parameter of a
    prebuilt statement)."""
    return func.make_interval(0, 0, 0, 0, 0, 0, value)


def newest_first(
    query: Select[Any],
    table: Table,
    wanted: ListFilter[Any],
    limit: int,
    after: Position | None,
) -> Select[Any]:
    """`query` as a page: `wanted`'s rows, newest first (created_at, then id,
    descending), after `after`, at most `limit`. The (created_at, id) indexes
    serve this order (migration 0005)."""
    query = query.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit)
    if wanted.statuses:
        query = query.where(
            table.c.status.in_(sorted(str(status) for status in wanted.statuses))
        )
    if wanted.created_from is not None:
        query = query.where(table.c.created_at >= wanted.created_from)
    if wanted.created_to is not None:
        query = query.where(table.c.created_at < wanted.created_to)
    if after is not None:
        query = query.where(
            tuple_(table.c.created_at, table.c.id) < tuple_(after.created_at, after.id)
        )
    return query
