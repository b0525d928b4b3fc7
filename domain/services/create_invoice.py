"""Use case: create a billing invoice, at most once per idempotency key."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import uuid4

from domain.errors import Subject, idempotency_conflict
from domain.idempotency import IdempotencyRecord, fingerprint
from domain.invoices import Invoice, InvoiceId, InvoiceStatus
from domain.money import ZERO, require_positive_amount
from domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from domain.text import clean_text


@dataclass(frozen=True, slots=True)
class CreateInvoice:
    total: Decimal
    number: str | None = None
    description: str | None = None
    idempotency_key: str | None = None


async def create_invoice(
    cmd: CreateInvoice, *, uow: UnitOfWorkFactory, clock: Clock
) -> Invoice:
    """Validate and store a new UNPAID invoice; commits. With an idempotency
    key, a request repeated with the same input gets the invoice the first one
    made (a double-click makes one bill). Raises DomainError (INVALID_AMOUNT,
    INVALID_INPUT for a bad or already used number, IDEMPOTENCY_CONFLICT for a
    key used with another input); nothing is written when it does."""
    total = require_positive_amount(cmd.total, Subject.TOTAL)
    number = clean_text(cmd.number, Subject.NUMBER, max_length=64)
    description = clean_text(cmd.description, Subject.DESCRIPTION, max_length=1000)
    key = clean_text(cmd.idempotency_key, Subject.IDEMPOTENCY_KEY, max_length=255)
    now = clock.now()
    invoice_id = InvoiceId(uuid4())
    async with uow() as tx:
        if key is not None:
            request_print = fingerprint(
                {
                    "operation": "create_invoice",
                    "total": str(total),
                    "number": number,
                    "description": description,
                }
            )
            # Claimed before the insert: a repeat waits for the first request
            # here instead of failing on its invoice number.
            stored = await tx.idempotency.claim(
                IdempotencyRecord(key, request_print, invoice_id, now)
            )
            if stored is not None:
                return await _replay(tx, stored, request_print)
        invoice = Invoice(
            id=invoice_id,
            number=number or await tx.invoices.next_number(),
            description=description,
            total=total,
            paid_amount=ZERO,
            status=InvoiceStatus.UNPAID,
            created_at=now,
            updated_at=now,
        )
        await tx.invoices.add(invoice)
        await tx.commit()
    return invoice


async def _replay(
    tx: UnitOfWork, stored: IdempotencyRecord, request_print: str
) -> Invoice:
    invoice = await tx.invoices.get(InvoiceId(stored.invoice_id))
    if stored.fingerprint != request_print or invoice is None:
        raise idempotency_conflict()
    return invoice
