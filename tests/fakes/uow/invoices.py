"""FakeInvoices: billing invoices and the invoice-number sequence."""

from __future__ import annotations

from collections.abc import Sequence

from domain.errors import DomainError, ErrorCode, Subject
from domain.invoices import Invoice, InvoiceId, InvoiceStatus
from domain.pages import ListFilter, Position
from tests.fakes.uow.base import FakeRepository, newest_first


class FakeInvoices(FakeRepository):
    async def add(self, invoice: Invoice) -> None:
        await self.lock("invoice_numbers", invoice.number)
        if any(i.number == invoice.number for i in self.tx.invoices.values()):
            self.tx.aborted = "duplicate invoice number"
            raise DomainError(
                ErrorCode.INVALID_INPUT, "number already used", Subject.NUMBER
            )
        await self.lock("invoices", invoice.id)
        self.tx.invoices[invoice.id] = invoice

    async def get(self, invoice_id: InvoiceId) -> Invoice | None:
        return self.tx.invoices.get(invoice_id)

    async def get_for_update(self, invoice_id: InvoiceId) -> Invoice | None:
        if invoice_id not in self.tx.invoices:
            return None
        await self.lock("invoices", invoice_id)
        return self.tx.invoices.get(invoice_id)

    async def update(self, invoice: Invoice) -> None:
        await self.lock("invoices", invoice.id)
        if invoice.id in self.tx.invoices:
            self.tx.invoices[invoice.id] = invoice

    async def next_number(self) -> str:
        self._uow.store.numbers += 1  # a sequence: never rolled back
        return f"INV-{self._uow.store.numbers:06d}"

    async def page(
        self, wanted: ListFilter[InvoiceStatus], limit: int, after: Position | None
    ) -> Sequence[Invoice]:
        return newest_first(list(self.tx.invoices.values()), wanted, limit, after)
