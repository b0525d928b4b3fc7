"""Invoice: a billing invoice, with its payments and QPay intents; its pages."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from domain import invoices
from domain.pages import ListFilter, Page
from graph.context import Info
from graph.pagination import (
    CREATED_FROM_DESCRIPTION,
    CREATED_TO_DESCRIPTION,
    CURSOR_DESCRIPTION,
    STATUS_FILTER_DESCRIPTION,
    PageInfo,
    encode_cursor,
)
from graph.types.enums import InvoiceStatus
from graph.types.payment import Payment
from graph.types.qpay_intent import QPayIntent
from graph.types.visibility import (
    STAFF_ONLY_EMPTY,
    STAFF_ONLY_NULL,
    is_checkout,
    staff_only,
)

if TYPE_CHECKING:
    from graph.types.payment_event import PaymentEvent


@strawberry.type(
    description=(
        "A billing invoice: what the clinic bills a patient, and how much of "
        "it is paid. Amounts in MNT. A checkout screen sees only its number, "
        "amounts, status and times (the staff-only fields say what it gets)."
    )
)
class Invoice:
    def _description(self, info: Info) -> str | None:
        staff_only(info, "Invoice.description")
        return self._domain.description

    async def _payments(self, info: Info) -> list[Payment]:
        if is_checkout(info):
            return []
        found = await info.context.loaders.payments.load(self._domain.id)
        return [Payment.from_domain(payment) for payment in found]

    async def _events(
        self, info: Info
    ) -> list[Annotated[PaymentEvent, strawberry.lazy("graph.types.payment_event")]]:
        if is_checkout(info):
            return []
        from graph.types.payment_event import PaymentEvent  # a cycle

        found = await info.context.loaders.history.load(self._domain.id)
        return [PaymentEvent.from_domain(entry, self._domain) for entry in found]

    async def _qpay_intents(self, info: Info) -> list[QPayIntent]:
        if is_checkout(info):
            return []
        found = await info.context.loaders.intents.load(self._domain.id)
        return [QPayIntent.from_domain(intent) for intent in found]

    id: strawberry.ID = strawberry.field(description="The invoice's id (a UUID).")
    number: str = strawberry.field(
        description=(
            "The clinic's invoice number, unique: the one given to "
            "createInvoice, or INV-000123 style when none was given."
        )
    )
    description: str | None = strawberry.field(
        resolver=_description,
        description=(
            "Free text from the clinic (often the patient's name and phone); "
            "null when none was given." + STAFF_ONLY_NULL
        ),
    )
    total: Decimal = strawberry.field(description="What is billed, in MNT.")
    paid_amount: Decimal = strawberry.field(
        description=(
            "What is paid, in MNT: every counted payment less every COMPLETED "
            "refund. May exceed total (OVERPAID)."
        )
    )
    balance: Decimal = strawberry.field(
        description=(
            "What is still owed, in MNT: total less paidAmount, never below 0.00."
        )
    )
    status: InvoiceStatus = strawberry.field(
        description="Where the invoice stands (follows paidAmount and total)."
    )
    created_at: datetime = strawberry.field(description="When the invoice was created.")
    updated_at: datetime = strawberry.field(
        description="When its paid amount or status last changed (or creation)."
    )
    payments: list[Payment] = strawberry.field(
        resolver=_payments,
        description=(
            "Every payment recorded on the invoice, oldest first (refunded ones "
            "and uncounted foreign-currency ones too)." + STAFF_ONLY_EMPTY
        ),
    )
    qpay_intents: list[QPayIntent] = strawberry.field(
        resolver=_qpay_intents,
        description=(
            "Every QPay intent of the invoice whose QPay invoice was made, newest "
            "first, in every status." + STAFF_ONLY_EMPTY
        ),
    )
    events: list[
        Annotated[PaymentEvent, strawberry.lazy("graph.types.payment_event")]
    ] = strawberry.field(
        resolver=_events,
        description=(
            "What happened to the invoice's money, oldest first: payments "
            "recorded, intents changed, receipts issued or failed, each with who "
            "asked. Append-only." + STAFF_ONLY_EMPTY
        ),
    )
    _domain: strawberry.Private[invoices.Invoice]

    @classmethod
    def from_domain(cls, invoice: invoices.Invoice) -> Invoice:
        return cls(
            id=strawberry.ID(str(invoice.id)),
            number=invoice.number,
            total=invoice.total,
            paid_amount=invoice.paid_amount,
            balance=invoice.balance,
            status=invoice.status,
            created_at=invoice.created_at,
            updated_at=invoice.updated_at,
            _domain=invoice,
        )


@strawberry.input(
    description=(
        "Which billing invoices `invoices` lists; every condition given must hold."
    )
)
class InvoiceFilter:
    status: list[InvoiceStatus] | None = strawberry.field(
        default=None, description=STATUS_FILTER_DESCRIPTION
    )
    created_from: datetime | None = strawberry.field(
        default=None, description=CREATED_FROM_DESCRIPTION
    )
    created_to: datetime | None = strawberry.field(
        default=None, description=CREATED_TO_DESCRIPTION
    )

    def to_domain(self) -> ListFilter[invoices.InvoiceStatus]:
        return ListFilter(
            statuses=frozenset(self.status or ()),
            created_from=self.created_from,
            created_to=self.created_to,
        )


@strawberry.type(description="One billing invoice of a page, with its position.")
class InvoiceEdge:
    cursor: str = strawberry.field(description=CURSOR_DESCRIPTION)
    node: Invoice = strawberry.field(description="The billing invoice.")


@strawberry.type(description="One page of billing invoices, newest first.")
class InvoiceConnection:
    edges: list[InvoiceEdge] = strawberry.field(
        description="The page's invoices, newest first; empty past the last one."
    )
    page_info: PageInfo = strawberry.field(
        description="Whether more follow, and the cursor to read them."
    )

    @classmethod
    def from_page(cls, page: Page[invoices.Invoice]) -> InvoiceConnection:
        edges = [
            InvoiceEdge(
                cursor=encode_cursor(invoice.created_at, invoice.id),
                node=Invoice.from_domain(invoice),
            )
            for invoice in page.items
        ]
        cursors = [edge.cursor for edge in edges]
        return cls(edges=edges, page_info=PageInfo.of(cursors, page.has_next))
