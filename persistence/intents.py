"""QPay intents, the aggregate (the IntentRepository port); when they are
checked is persistence/schedule.py."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import BindParameter, bindparam, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.ebarimt import EbarimtRequest, EbarimtStatus
from domain.intents import IntentId, IntentRef, IntentSecrets, IntentStatus, QPayIntent
from domain.invoices import Invoice, InvoiceId
from domain.pages import ListFilter, Position
from domain.payments import Payment
from domain.ports import DuplicateQPayPayment
from domain.qpay_messages import QPayEnvironment
from persistence import mapping
from persistence.sql import (
    Refused,
    cast_jsonb,
    intents,
    interval,
    invoices,
    newest_first,
    payments,
    receipts,
)

# Columns a subscription or query reads; secrets and poller state stay behind.
_INTENT_COLUMNS = [
    column
    for column in intents.c
    if column.name
    not in {
        "raw",
        "client_secret_hashes",
        "callback_token_hash",
        "lease_until",
        "lease_owner",
    }
]

# Prebuilt: see persistence/invoices.py.
_INTENT_SECRETS = select(
    intents.c.client_secret_hashes,
    intents.c.callback_token_hash,
    intents.c.invoice_id,
    intents.c.qpay_invoice_id,
    intents.c.environment,
).where(intents.c.id == bindparam("id"))


_INTENT_BY_ID = select(*_INTENT_COLUMNS).where(intents.c.id == bindparam("id"))
_INTENT_FOR_UPDATE = _INTENT_BY_ID.with_for_update(of=intents)
# Sent after the invoice's lock is held: the statement's snapshot then holds
# every payment a settler that held the lock before us committed.
_INTENT_FOR_SETTLEMENT = (
    select(
        *_INTENT_COLUMNS,
        func.array(
            select(payments.c.qpay_txn_id)
            .where(
                payments.c.invoice_id == intents.c.invoice_id,
                payments.c.qpay_txn_id.is_not(None),
            )
            .scalar_subquery()
        ).label("known_qpay_ids"),
    )
    .where(intents.c.id == bindparam("id"))
    .with_for_update(of=intents)
)
# The intent, its invoice and whether a receipt of it is still being
# issued, in one statement (one snapshot: read apart, a receipt issued
# between two reads looked done while the intent still had its old version;
# and one round trip for every re-read of a subscription).
_INVOICE_PREFIX = "invoice__"
_INTENT_WATCHED = (
    select(
        *_INTENT_COLUMNS,
        *(column.label(_INVOICE_PREFIX + column.name) for column in invoices.c),
        select(receipts.c.id)
        .where(
            receipts.c.intent_id == intents.c.id,
            receipts.c.status == EbarimtStatus.PENDING.value,
        )
        .exists()
        .label("receipt_pending"),
    )
    .join_from(intents, invoices, invoices.c.id == intents.c.invoice_id)
    .where(intents.c.id == bindparam("id"))
)
# Every change of an intent (status, amounts, review, error, version); the
# second also appends QPay's answer to its raw record. The SET columns are
# named in the statement, so each is compiled once.
_UPDATE_VALUES: dict[str, BindParameter[Any]] = {
    name: bindparam(f"v_{name}")
    for name in (
        "status",
        "paid_amount",
        "qpay_payment_id",
        "version",
        "last_error",
        "review_reason",
        "reviewed_at",
        "reviewed_by",
        "review_resolution",
        "review_note",
        "updated_at",
    )
}
_INTENT_UPDATE = (
    intents.update().where(intents.c.id == bindparam("v_id")).values(_UPDATE_VALUES)
)
_INTENT_UPDATE_WITH_RAW = _INTENT_UPDATE.values(
    raw=intents.c.raw.op("||")(bindparam("v_raw", type_=JSONB))
)

_PAYMENT_COLUMNS = (
    "id",
    "invoice_id",
    "intent_id",
    "method",
    "amount",
    "currency",
    "qpay_txn_id",
    "created_at",
)


def _update_parameters(
    intent: QPayIntent, raw: Mapping[str, object] | None
) -> dict[str, Any]:
    """_INTENT_UPDATE's parameters (and _INTENT_UPDATE_WITH_RAW's, with `raw`)."""
    values: dict[str, Any] = {
        "status": intent.status.value,
        "paid_amount": intent.paid_amount,
        "qpay_payment_id": intent.qpay_payment_id,
        "version": intent.version,
        "last_error": intent.last_error,
        "review_reason": intent.review_reason.value if intent.review_reason else None,
        **mapping.review_values(intent),
        "updated_at": intent.updated_at,
    }
    parameters = {f"v_{name}": value for name, value in values.items()}
    parameters["v_id"] = intent.id
    if raw is not None:
        parameters["v_raw"] = dict(raw)
    return parameters


@functools.lru_cache(maxsize=32)
def _settlement(payment_count: int, invoice: bool, raw: bool) -> Any:
    """The settling transaction's writes as one statement: the intent's
    UPDATE carrying the payments' INSERTs and the invoice's UPDATE as
    data-modifying CTEs (PostgreSQL runs each exactly once, whether or not
    the statement reads it). Three round trips become one; a unique
    violation fails the whole statement. Built once per shape."""
    ctes: list[Any] = [
        payments.insert()
        .values(
            {
                name: bindparam(f"p{n}_{name}", type_=payments.c[name].type)
                for name in _PAYMENT_COLUMNS
            }
        )
        .cte(f"settled_payment_{n}")
        for n in range(payment_count)
    ]
    if invoice:
        ctes.append(
            invoices.update()
            .where(invoices.c.id == bindparam("i_id"))
            .values(
                paid_amount=bindparam("i_paid_amount"),
                status=bindparam("i_status"),
                updated_at=bindparam("i_updated_at"),
            )
            .cte("settled_invoice")
        )
    statement = _INTENT_UPDATE_WITH_RAW if raw else _INTENT_UPDATE
    return statement.add_cte(*ctes) if ctes else statement


class SqlAlchemyIntentRepository:
    def __init__(self, conn: AsyncConnection, refused: Refused | None = None) -> None:
        self._conn = conn
        self._refused = refused

    async def add(
        self, intent: QPayIntent, *, client_secret_hash: str, callback_token_hash: str
    ) -> None:
        values = mapping.intent_values(intent)
        values.update(
            id=intent.id,
            client_secret_hashes=[client_secret_hash],
            callback_token_hash=callback_token_hash,
        )
        await self._conn.execute(intents.insert().values(values))

    async def get(self, intent_id: IntentId) -> QPayIntent | None:
        result = await self._conn.execute(_INTENT_BY_ID, {"id": intent_id})
        row = result.mappings().first()
        return mapping.intent_from_row(row) if row else None

    async def get_watched(
        self, intent_id: IntentId
    ) -> tuple[QPayIntent, Invoice, bool] | None:
        result = await self._conn.execute(_INTENT_WATCHED, {"id": intent_id})
        row = result.mappings().first()
        if row is None:
            return None
        invoice = {
            name.removeprefix(_INVOICE_PREFIX): value
            for name, value in row.items()
            if name.startswith(_INVOICE_PREFIX)
        }
        return (
            mapping.intent_from_row(row),
            mapping.invoice_from_row(invoice),
            bool(row["receipt_pending"]),
        )

    async def lock_for_settlement(
        self, intent_id: IntentId
    ) -> tuple[QPayIntent, frozenset[str]] | None:
        result = await self._conn.execute(_INTENT_FOR_SETTLEMENT, {"id": intent_id})
        row = result.mappings().first()
        if row is None:
            return None
        return mapping.intent_from_row(row), frozenset(row["known_qpay_ids"])

    async def get_for_update(self, intent_id: IntentId) -> QPayIntent | None:
        result = await self._conn.execute(_INTENT_FOR_UPDATE, {"id": intent_id})
        row = result.mappings().first()
        return mapping.intent_from_row(row) if row else None

    async def update(
        self, intent: QPayIntent, *, raw: Mapping[str, object] | None = None
    ) -> None:
        parameters = _update_parameters(intent, raw)
        statement = _INTENT_UPDATE if raw is None else _INTENT_UPDATE_WITH_RAW
        await self._conn.execute(statement, parameters)

    async def store_settlement(
        self,
        intent: QPayIntent,
        *,
        payments: Sequence[Payment],
        invoice: Invoice | None,
        raw: Mapping[str, object] | None = None,
    ) -> None:
        parameters = _update_parameters(intent, raw)
        for n, payment in enumerate(payments):
            for name, value in mapping.payment_values(payment).items():
                parameters[f"p{n}_{name}"] = value
        if invoice is not None:
            parameters |= {
                "i_id": invoice.id,
                "i_paid_amount": invoice.paid_amount,
                "i_status": invoice.status.value,
                "i_updated_at": invoice.updated_at,
            }
        statement = _settlement(len(payments), invoice is not None, raw is not None)
        try:
            await self._conn.execute(statement, parameters)
        except IntegrityError as error:
            if self._refused is not None:
                self._refused("a payment was refused")
            if "uq_payments_qpay_txn_id" in str(error.orig):
                raise DuplicateQPayPayment(
                    ", ".join(str(p.qpay_payment_id) for p in payments)
                ) from None
            raise

    async def record_qpay_invoice(
        self, intent: QPayIntent, *, raw: Mapping[str, object], first_check_in: float
    ) -> None:
        everything = mapping.intent_values(intent)
        values = {
            name: everything[name]
            for name in (
                "qpay_invoice_id",
                "qr_text",
                "qr_image",
                "short_url",
                "deeplinks",
                "updated_at",
            )
        }
        values["raw"] = intents.c.raw.op("||")(cast_jsonb(raw))
        values["next_check_at"] = func.now() + interval(first_check_in)
        await self._conn.execute(
            intents.update().where(intents.c.id == intent.id).values(values)
        )

    async def remember_ebarimt(
        self, intent_id: IntentId, request: EbarimtRequest, *, overwrite: bool = False
    ) -> None:
        condition = intents.c.id == intent_id
        if not overwrite:
            condition &= intents.c.ebarimt_receiver_type.is_(None)
        await self._conn.execute(
            intents.update()
            .where(condition)
            .values(
                ebarimt_receiver_type=request.receiver_type.value,
                ebarimt_receiver=request.receiver,
            )
        )

    async def list_for_invoices(
        self, invoice_ids: Sequence[InvoiceId]
    ) -> Sequence[QPayIntent]:
        if not invoice_ids:
            return []
        result = await self._conn.execute(
            select(*_INTENT_COLUMNS)
            .where(
                intents.c.invoice_id.in_(list(invoice_ids)),
                intents.c.qpay_invoice_id.is_not(None),
            )
            .order_by(intents.c.created_at.desc(), intents.c.id)
        )
        return [mapping.intent_from_row(row) for row in result.mappings()]

    async def page(
        self, wanted: ListFilter[IntentStatus], limit: int, after: Position | None
    ) -> Sequence[QPayIntent]:
        query = newest_first(
            select(*_INTENT_COLUMNS).where(intents.c.qpay_invoice_id.is_not(None)),
            intents,
            wanted,
            limit,
            after,
        )
        result = await self._conn.execute(query)
        return [mapping.intent_from_row(row) for row in result.mappings()]

    async def list_open(self, environment: QPayEnvironment) -> Sequence[QPayIntent]:
        result = await self._conn.execute(
            select(*_INTENT_COLUMNS)
            .where(
                intents.c.environment == environment.value,
                intents.c.qpay_invoice_id.is_not(None),
                intents.c.status.in_(
                    [IntentStatus.PENDING.value, IntentStatus.NEEDS_REVIEW.value]
                ),
            )
            .order_by(intents.c.created_at)
        )
        return [mapping.intent_from_row(row) for row in result.mappings()]

    async def list_creating(
        self, invoice_id: InvoiceId, amount: Decimal, environment: QPayEnvironment
    ) -> Sequence[QPayIntent]:
        result = await self._conn.execute(
            select(*_INTENT_COLUMNS).where(
                intents.c.invoice_id == invoice_id,
                intents.c.amount == amount,
                intents.c.environment == environment.value,
                intents.c.status == IntentStatus.PENDING.value,
            )
        )
        return [mapping.intent_from_row(row) for row in result.mappings()]

    async def add_client_secret(self, intent_id: IntentId, secret_hash: str) -> None:
        # Keep the newest few: each createQPayInvoice answer stays usable.
        await self._conn.execute(
            intents.update()
            .where(intents.c.id == intent_id)
            .values(
                client_secret_hashes=func.array_prepend(
                    secret_hash, intents.c.client_secret_hashes[1:7]
                )
            )
        )

    async def secrets(self, intent_id: IntentId) -> IntentSecrets | None:
        result = await self._conn.execute(_INTENT_SECRETS, {"id": intent_id})
        row = result.first()
        if row is None:
            return None
        return IntentSecrets(
            client_secret_hashes=tuple(row.client_secret_hashes),
            callback_token_hash=row.callback_token_hash,
            ref=IntentRef(
                IntentId(intent_id),
                InvoiceId(row.invoice_id),
                row.qpay_invoice_id,
                QPayEnvironment(row.environment),
            ),
        )

    async def refs_by_qpay_invoice(
        self, qpay_invoice_ids: Sequence[str], environment: QPayEnvironment
    ) -> dict[str, IntentRef]:
        if not qpay_invoice_ids:
            return {}
        result = await self._conn.execute(
            select(intents.c.id, intents.c.invoice_id, intents.c.qpay_invoice_id).where(
                intents.c.qpay_invoice_id.in_(list(qpay_invoice_ids)),
                intents.c.environment == environment.value,
            )
        )
        return {
            row.qpay_invoice_id: IntentRef(
                IntentId(row.id),
                InvoiceId(row.invoice_id),
                row.qpay_invoice_id,
                environment,
            )
            for row in result
        }
