"""Repositories over one AsyncConnection (SQLAlchemy Core, no ORM session).
They return domain objects, never rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Table, bindparam, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.callbacks import ReceivedCallback
from domain.ebarimt import EbarimtRequest, EbarimtStatus
from domain.errors import DomainError, ErrorCode, Subject
from domain.gateway import QPayEnvironment
from domain.idempotency import IdempotencyRecord
from domain.intents import IntentId, IntentRef, IntentSecrets, IntentStatus, QPayIntent
from domain.invoices import (
    Invoice,
    InvoiceId,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentMethodConfig,
)
from domain.ports import DueIntent, DuplicateQPayPayment
from persistence import mapping
from persistence.tables import (
    EbarimtReceiptRow,
    IdempotencyKeyRow,
    InvoiceRow,
    PaymentMethodConfigRow,
    PaymentRow,
    QPayCallbackRow,
    QPayIntentRow,
    invoice_number_seq,
)

invoices = cast(Table, InvoiceRow.__table__)
payments = cast(Table, PaymentRow.__table__)
intents = cast(Table, QPayIntentRow.__table__)
receipts = cast(Table, EbarimtReceiptRow.__table__)
idempotency_keys = cast(Table, IdempotencyKeyRow.__table__)
method_configs = cast(Table, PaymentMethodConfigRow.__table__)
callbacks = cast(Table, QPayCallbackRow.__table__)


def cast_jsonb(value: Mapping[str, object]) -> Any:
    """A bound JSONB value (for `raw || :value`)."""
    return literal(dict(value), type_=JSONB)


def _seconds(value: float) -> Any:
    """An SQL interval of `value` seconds."""
    return func.make_interval(0, 0, 0, 0, 0, 0, value)


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


# Hot-path statements, built once: executing a prebuilt statement skips the
# construction and cache-key work SQLAlchemy does for a fresh one (about a
# tenth of a settleInvoice's CPU time, measured with py-spy).
_INVOICE_BY_ID = select(invoices).where(invoices.c.id == bindparam("id"))
_INVOICE_FOR_UPDATE = _INVOICE_BY_ID.with_for_update()
_INVOICE_UPDATE = (
    invoices.update()
    .where(invoices.c.id == bindparam("invoice_id"))
    .values(
        paid_amount=bindparam("paid_amount"),
        status=bindparam("status"),
        updated_at=bindparam("updated_at"),
    )
)
_INTENT_SECRETS = select(
    intents.c.client_secret_hashes,
    intents.c.callback_token_hash,
    intents.c.invoice_id,
    intents.c.qpay_invoice_id,
    intents.c.environment,
).where(intents.c.id == bindparam("id"))
_PAYMENT_INSERT = payments.insert()
_PAYMENT_BY_ID = select(payments).where(payments.c.id == bindparam("id"))
_KEY_CLAIM = (
    insert(idempotency_keys)
    .values(
        key=bindparam("key"),
        fingerprint=bindparam("fingerprint"),
        invoice_id=bindparam("invoice_id"),
        created_at=bindparam("created_at"),
    )
    .on_conflict_do_nothing(index_elements=["key"])
    .returning(idempotency_keys.c.key)
)
_KEY_BY_ID = select(idempotency_keys).where(idempotency_keys.c.key == bindparam("key"))
_KEY_COMPLETE = (
    idempotency_keys.update()
    .where(idempotency_keys.c.key == bindparam("key_id"))
    .values(payment_id=bindparam("payment_id"))
)


Refused = Callable[[str], None]


class SqlAlchemyInvoiceRepository:
    def __init__(self, conn: AsyncConnection, refused: Refused | None = None) -> None:
        self._conn = conn
        self._refused = refused

    async def add(self, invoice: Invoice) -> None:
        try:
            await self._conn.execute(
                invoices.insert().values(mapping.invoice_values(invoice))
            )
        except IntegrityError as error:
            if self._refused is not None:
                self._refused("an invoice number was refused")
            if "uq_invoices_number" in str(error.orig):
                raise DomainError(
                    ErrorCode.INVALID_INPUT,
                    "an invoice with this number exists",
                    Subject.NUMBER,
                ) from None
            raise

    async def get(self, invoice_id: InvoiceId) -> Invoice | None:
        result = await self._conn.execute(_INVOICE_BY_ID, {"id": invoice_id})
        row = result.mappings().first()
        return mapping.invoice_from_row(row) if row else None

    async def get_for_update(self, invoice_id: InvoiceId) -> Invoice | None:
        result = await self._conn.execute(_INVOICE_FOR_UPDATE, {"id": invoice_id})
        row = result.mappings().first()
        return mapping.invoice_from_row(row) if row else None

    async def update(self, invoice: Invoice) -> None:
        await self._conn.execute(
            _INVOICE_UPDATE,
            {
                "invoice_id": invoice.id,
                "paid_amount": invoice.paid_amount,
                "status": invoice.status.value,
                "updated_at": invoice.updated_at,
            },
        )

    async def next_number(self) -> str:
        value = await self._conn.scalar(select(invoice_number_seq.next_value()))
        return f"INV-{int(cast(int, value)):06d}"

    async def list(
        self, *, status: InvoiceStatus | None, first: int, after: InvoiceId | None
    ) -> Sequence[Invoice]:
        query = select(invoices).order_by(invoices.c.id).limit(first)
        if status is not None:
            query = query.where(invoices.c.status == status.value)
        if after is not None:
            query = query.where(invoices.c.id > after)
        result = await self._conn.execute(query)
        return [mapping.invoice_from_row(row) for row in result.mappings()]


class SqlAlchemyPaymentRepository:
    def __init__(self, conn: AsyncConnection, refused: Refused | None = None) -> None:
        self._conn = conn
        self._refused = refused

    async def add(self, payment: Payment) -> None:
        values = mapping.payment_values(payment)
        if payment.qpay_payment_id is None:
            await self._conn.execute(_PAYMENT_INSERT, values)
            return
        try:
            await self._conn.execute(_PAYMENT_INSERT, values)
        except IntegrityError as error:
            if self._refused is not None:
                self._refused("a payment was refused")
            if "uq_payments_qpay_txn_id" in str(error.orig):
                raise DuplicateQPayPayment(payment.qpay_payment_id) from None
            raise

    async def get(self, payment_id: UUID) -> Payment | None:
        result = await self._conn.execute(_PAYMENT_BY_ID, {"id": payment_id})
        row = result.mappings().first()
        return mapping.payment_from_row(row) if row else None

    async def list_for_invoices(
        self, invoice_ids: Sequence[InvoiceId]
    ) -> Sequence[Payment]:
        if not invoice_ids:
            return []
        result = await self._conn.execute(
            select(payments)
            .where(payments.c.invoice_id.in_(list(invoice_ids)))
            .order_by(payments.c.created_at, payments.c.id)
        )
        return [mapping.payment_from_row(row) for row in result.mappings()]

    async def by_qpay_ids(self, qpay_payment_ids: Sequence[str]) -> dict[str, Payment]:
        if not qpay_payment_ids:
            return {}
        result = await self._conn.execute(
            select(payments).where(payments.c.qpay_txn_id.in_(list(qpay_payment_ids)))
        )
        found = (mapping.payment_from_row(row) for row in result.mappings())
        return {p.qpay_payment_id: p for p in found if p.qpay_payment_id is not None}

    async def qpay_payment_ids(self, invoice_id: InvoiceId) -> frozenset[str]:
        result = await self._conn.execute(
            select(payments.c.qpay_txn_id).where(
                payments.c.invoice_id == invoice_id,
                payments.c.qpay_txn_id.is_not(None),
            )
        )
        return frozenset(value for value in result.scalars() if value is not None)


class SqlAlchemyIntentRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

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
        result = await self._conn.execute(
            select(*_INTENT_COLUMNS).where(intents.c.id == intent_id)
        )
        row = result.mappings().first()
        return mapping.intent_from_row(row) if row else None

    async def get_watched(self, intent_id: IntentId) -> tuple[QPayIntent, bool] | None:
        # One statement, so one snapshot: read apart, a receipt issued between
        # the two reads looked done while the intent still had its old version.
        pending = (
            select(receipts.c.id)
            .where(
                receipts.c.intent_id == intents.c.id,
                receipts.c.status == EbarimtStatus.PENDING.value,
            )
            .exists()
        )
        result = await self._conn.execute(
            select(*_INTENT_COLUMNS, pending.label("receipt_pending")).where(
                intents.c.id == intent_id
            )
        )
        row = result.mappings().first()
        if row is None:
            return None
        return mapping.intent_from_row(row), bool(row["receipt_pending"])

    async def get_for_update(self, intent_id: IntentId) -> QPayIntent | None:
        result = await self._conn.execute(
            select(*_INTENT_COLUMNS)
            .where(intents.c.id == intent_id)
            .with_for_update(of=intents)
        )
        row = result.mappings().first()
        return mapping.intent_from_row(row) if row else None

    async def update(
        self, intent: QPayIntent, *, raw: Mapping[str, object] | None = None
    ) -> None:
        values: dict[str, Any] = {
            "status": intent.status.value,
            "paid_amount": intent.paid_amount,
            "qpay_payment_id": intent.qpay_payment_id,
            "version": intent.version,
            "last_error": intent.last_error,
            "updated_at": intent.updated_at,
        }
        if raw is not None:
            values["raw"] = intents.c.raw.op("||")(cast_jsonb(raw))
        await self._conn.execute(
            intents.update().where(intents.c.id == intent.id).values(values)
        )

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
        values["next_check_at"] = func.now() + _seconds(first_check_in)
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

    async def mark_watched(
        self, intent_ids: Sequence[IntentId], seconds: float, poll_interval: float
    ) -> Sequence[tuple[IntentId, int]]:
        result = await self._conn.execute(
            intents.update()
            .where(intents.c.id.in_(list(intent_ids)))
            .values(
                watched_until=func.now() + _seconds(seconds),
                next_check_at=func.least(
                    intents.c.next_check_at, func.now() + _seconds(poll_interval)
                ),
            )
            .returning(intents.c.id, intents.c.version)
        )
        return [(IntentId(row.id), int(row.version)) for row in result]

    async def claim_due(
        self,
        owner: str,
        limit: int,
        lease_seconds: float,
        environment: QPayEnvironment,
    ) -> Sequence[DueIntent]:
        result = await self._conn.execute(
            text(
                """
                WITH due AS (
                    SELECT id, next_check_at FROM qpay_intents
                    WHERE status = 'PENDING' AND qpay_invoice_id IS NOT NULL
                      AND environment = :environment
                      AND next_check_at <= now()
                      AND (lease_until IS NULL OR lease_until < now())
                    ORDER BY next_check_at
                    LIMIT :limit
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE qpay_intents AS i
                SET lease_until = now() + make_interval(secs => :lease),
                    lease_owner = :owner,
                    check_count = i.check_count + 1
                FROM due WHERE i.id = due.id
                RETURNING i.id, i.expires_at <= now() AS expired,
                          extract(epoch FROM now() - due.next_check_at) AS lag,
                          coalesce(i.watched_until > now(), false) AS watched,
                          i.check_count
                """
            ),
            {
                "limit": limit,
                "lease": lease_seconds,
                "owner": owner,
                "environment": environment.value,
            },
        )
        return [
            DueIntent(
                intent_id=IntentId(row.id),
                expired=row.expired,
                watched=row.watched,
                check_count=row.check_count,
                lag_seconds=float(row.lag),
            )
            for row in result
        ]

    async def release(
        self, intent_id: IntentId, owner: str, delay_seconds: float
    ) -> None:
        await self._conn.execute(
            intents.update()
            .where(intents.c.id == intent_id, intents.c.lease_owner == owner)
            .values(
                lease_until=None,
                lease_owner=None,
                next_check_at=func.now() + _seconds(delay_seconds),
            )
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

    async def claim_check(self, intent_id: IntentId, min_interval: float) -> bool:
        result = await self._conn.execute(
            update(intents)
            .where(
                intents.c.id == intent_id,
                (intents.c.last_checked_at.is_(None))
                | (intents.c.last_checked_at <= func.now() - _seconds(min_interval)),
            )
            .values(last_checked_at=func.now())
            .returning(intents.c.id)
        )
        return result.first() is not None


class SqlAlchemyIdempotencyRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        # ON CONFLICT waits for a concurrent inserter of the same key to finish,
        # so exactly one request proceeds and the others read its result.
        inserted = await self._conn.execute(
            _KEY_CLAIM,
            {
                "key": record.key,
                "fingerprint": record.fingerprint,
                "invoice_id": record.invoice_id,
                "created_at": record.created_at,
            },
        )
        if inserted.first() is not None:
            return None
        result = await self._conn.execute(_KEY_BY_ID, {"key": record.key})
        row = result.mappings().one()
        return IdempotencyRecord(
            key=row["key"],
            fingerprint=row["fingerprint"],
            invoice_id=row["invoice_id"],
            created_at=row["created_at"],
            payment_id=row["payment_id"],
        )

    async def complete(self, key: str, payment_id: UUID) -> None:
        await self._conn.execute(
            _KEY_COMPLETE, {"key_id": key, "payment_id": payment_id}
        )


class SqlAlchemyCallbackRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, callback: ReceivedCallback) -> None:
        await self._conn.execute(
            callbacks.insert().values(
                intent_id=callback.intent_id,
                method=callback.method[:8],
                query=dict(callback.query),
                qpay_payment_id=callback.qpay_payment_id,
                headers=dict(callback.headers),
                body=callback.body,
                remote_addr=callback.remote_addr,
                received_at=callback.received_at,
            )
        )


class SqlAlchemyMethodConfigRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def list(self) -> Sequence[PaymentMethodConfig]:
        result = await self._conn.execute(
            select(method_configs).order_by(
                method_configs.c.position, method_configs.c.method
            )
        )
        return [mapping.method_config_from_row(row) for row in result.mappings()]

    async def get(self, method: PaymentMethod) -> PaymentMethodConfig | None:
        result = await self._conn.execute(
            select(method_configs).where(method_configs.c.method == method.value)
        )
        row = result.mappings().first()
        return mapping.method_config_from_row(row) if row else None
