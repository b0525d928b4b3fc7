"""Query resolvers: invoice, invoices, qpayIntent, paymentMethods."""

from __future__ import annotations

import strawberry

from domain.errors import DomainError
from domain.intents import IntentId
from domain.invoices import InvoiceId
from domain.invoices import InvoiceStatus as DomainInvoiceStatus
from domain.services import queries
from graph.context import Info
from graph.errors import public_error
from graph.ids import parse_uuid
from graph.types.enums import InvoiceStatus
from graph.types.invoice import Invoice
from graph.types.payment import PaymentMethodConfig
from graph.types.qpay_intent import QPayIntent


@strawberry.type
class Query:
    @strawberry.field
    async def invoice(self, info: Info, id: strawberry.ID) -> Invoice | None:
        try:
            invoice_id = InvoiceId(parse_uuid(id, "id"))
        except DomainError as error:
            raise public_error(error) from None
        found = await queries.get_invoice(invoice_id, uow=info.context.services.uow)
        return Invoice.from_domain(found) if found else None

    @strawberry.field
    async def invoices(
        self,
        info: Info,
        status: InvoiceStatus | None = None,
        first: int = 50,
        after: strawberry.ID | None = None,
    ) -> list[Invoice]:
        try:
            cursor = InvoiceId(parse_uuid(after, "after")) if after else None
        except DomainError as error:
            raise public_error(error) from None
        found = await queries.list_invoices(
            uow=info.context.services.uow,
            status=DomainInvoiceStatus(status.value) if status else None,
            first=first,
            after=cursor,
        )
        return [Invoice.from_domain(invoice) for invoice in found]

    @strawberry.field
    async def qpay_intent(self, info: Info, id: strawberry.ID) -> QPayIntent | None:
        try:
            intent_id = IntentId(parse_uuid(id, "id"))
        except DomainError as error:
            raise public_error(error) from None
        found = await queries.get_intent(intent_id, uow=info.context.services.uow)
        return QPayIntent.from_domain(found) if found else None

    @strawberry.field
    async def payment_methods(self, info: Info) -> list[PaymentMethodConfig]:
        found = await queries.list_payment_methods(uow=info.context.services.uow)
        return [PaymentMethodConfig.from_domain(config) for config in found]
