"""Use case: create a billing invoice."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import uuid4

from domain.errors import Subject
from domain.invoices import Invoice, InvoiceId, InvoiceStatus
from domain.money import ZERO, require_positive_amount
from domain.ports import Clock, UnitOfWorkFactory
from domain.text import clean_text


@dataclass(frozen=True, slots=True)
class CreateInvoice:
    total: Decimal
    number: str | None = None
    description: str | None = None


async def create_invoice(
    cmd: CreateInvoice, *, uow: UnitOfWorkFactory, clock: Clock
) -> Invoice:
    """Validate and store a new UNPAID invoice; commits. Raises DomainError
    (INVALID_AMOUNT, INVALID_INPUT for a bad or already used number)."""
    total = require_positive_amount(cmd.total, Subject.TOTAL)
    number = clean_text(cmd.number, Subject.NUMBER, max_length=64)
    description = clean_text(cmd.description, Subject.DESCRIPTION, max_length=1000)
    now = clock.now()
    async with uow() as tx:
        invoice = Invoice(
            id=InvoiceId(uuid4()),
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
