"""PaymentEvent: one entry of an invoice's history (design.md §8)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain import history, invoices
from graph.context import Info
from graph.types.enums import PaymentEventKind, QPayIntentStatus
from graph.types.invoice import Invoice
from graph.types.payment import Payment
from graph.types.qpay_intent import QPayIntent
from graph.types.refund import Refund


@strawberry.type(
    description=(
        "One entry of an invoice's history (append-only): what happened to its "
        "money, who asked, and when. Read as Invoice.events or live as "
        "paymentEvents; staff only."
    )
)
class PaymentEvent:
    kind: PaymentEventKind = strawberry.field(
        description="What happened; says which of the fields below are set."
    )
    at: datetime = strawberry.field(description="When it was recorded.")
    actor: str | None = strawberry.field(
        description=(
            "The staff member whose request caused it (their token's `sub`); "
            "null when the service acted on its own (a QPay callback, the poller, "
            "the ledger sweep, the e-Barimt worker)."
        )
    )
    intent_status: QPayIntentStatus | None = strawberry.field(
        description=(
            "For INTENT_CHANGED: the intent's status right after it (the intent "
            "field shows its status now); null for other kinds."
        )
    )
    _entry: strawberry.Private[history.HistoryEntry]
    _invoice: strawberry.Private[invoices.Invoice]

    def _invoice_now(self) -> Invoice:
        return Invoice.from_domain(self._invoice)

    async def _payment(self, info: Info) -> Payment | None:
        wanted = self._entry.payment_id
        if wanted is None:
            return None
        found = await info.context.loaders.payments.load(self._entry.invoice_id)
        mine = [p for p in found if p.id == wanted]
        return Payment.from_domain(mine[0]) if mine else None

    async def _intent(self, info: Info) -> QPayIntent | None:
        wanted = self._entry.intent_id
        if wanted is None:
            return None
        found = await info.context.loaders.intents.load(self._entry.invoice_id)
        mine = [i for i in found if i.id == wanted]
        return QPayIntent.from_domain(mine[0]) if mine else None

    async def _refund(self, info: Info) -> Refund | None:
        wanted, payment_id = self._entry.refund_id, self._entry.payment_id
        if wanted is None or payment_id is None:
            return None
        found = await info.context.loaders.refunds.load(payment_id)
        mine = [r for r in found if r.id == wanted]
        return Refund.from_domain(mine[0]) if mine else None

    refund: Refund | None = strawberry.field(
        resolver=_refund,
        description=(
            "For REFUND_RECORDED: the refund (COMPLETED or FAILED), as it is "
            "now; null for other kinds."
        ),
    )
    invoice: Invoice = strawberry.field(
        resolver=_invoice_now,
        description=(
            "The billing invoice it happened to, as it is now (not as it was at `at`)."
        ),
    )
    payment: Payment | None = strawberry.field(
        resolver=_payment,
        description=(
            "The payment concerned, as it is now: for PAYMENT_RECORDED, "
            "REFUND_RECORDED and RECEIPT_CHANGED; null for INTENT_CHANGED."
        ),
    )
    intent: QPayIntent | None = strawberry.field(
        resolver=_intent,
        description=(
            "The QPay intent concerned, as it is now: for INTENT_CHANGED and "
            "RECEIPT_CHANGED, and for a QPay payment's PAYMENT_RECORDED or "
            "REFUND_RECORDED; null otherwise."
        ),
    )

    @classmethod
    def from_domain(
        cls, entry: history.HistoryEntry, invoice: invoices.Invoice
    ) -> PaymentEvent:
        return cls(
            kind=entry.kind,
            at=entry.at,
            actor=entry.actor,
            intent_status=entry.intent_status,
            _entry=entry,
            _invoice=invoice,
        )
