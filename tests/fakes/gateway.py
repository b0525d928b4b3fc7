"""FakePaymentGateway: a scripted QPay for use-case tests (no HTTP)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from uuid import uuid4

from domain.errors import GatewayRejected, GatewayUnavailable
from domain.qpay_messages import (
    CancelOutcome,
    CreatedInvoice,
    Deeplink,
    InvoiceRequest,
    IssuedReceipt,
    LedgerPage,
    LedgerRow,
    MalformedRow,
    PaymentCheck,
    PaymentRow,
    QPayEnvironment,
    ReceiptRequest,
    ReceiptVoid,
    RefundOutcome,
)


@dataclass
class FakeInvoice:
    request: InvoiceRequest
    rows: list[PaymentRow] = field(default_factory=list)
    malformed: list[MalformedRow] = field(default_factory=list)
    cancelled: bool = False


class FakePaymentGateway:
    def __init__(self) -> None:
        self.invoices: dict[str, FakeInvoice] = {}
        self.calls: list[str] = []
        # A DomainError as QPay's refusal; any other exception as a bug.
        self.fail_with: dict[str, Exception] = {}
        self.receipts: list[ReceiptRequest] = []
        # Receipts QPay holds, by QPay payment id (cancelled ones removed).
        self.registered: dict[str, int] = {}
        self.ebarimt_api = "v2"
        self.paid_at: dict[str, datetime | None] = {}

    @property
    def environment(self) -> QPayEnvironment:
        return QPayEnvironment.MOCK

    def _maybe_fail(self, call: str) -> None:
        self.calls.append(call)
        error = self.fail_with.get(call)
        if error is not None:
            raise error

    async def create_invoice(self, request: InvoiceRequest) -> CreatedInvoice:
        self._maybe_fail("create_invoice")
        qpay_id = str(uuid4())
        self.invoices[qpay_id] = FakeInvoice(request)
        return CreatedInvoice(
            qpay_invoice_id=qpay_id,
            qr_text=f"QR-{qpay_id}",
            qr_image="iVBORw0KGgo=",
            short_url=f"https://s.qpay.mn/{qpay_id[:6]}",
            deeplinks=(
                Deeplink(name="Khan bank", link=f"khanbank://q?qPay_QRcode={qpay_id}"),
            ),
        )

    async def check_payment(self, qpay_invoice_id: str) -> PaymentCheck:
        self._maybe_fail("check_payment")
        invoice = self.invoices[qpay_invoice_id]
        return PaymentCheck(
            rows=tuple(invoice.rows), malformed=tuple(invoice.malformed)
        )

    async def cancel_invoice(self, qpay_invoice_id: str) -> CancelOutcome:
        self._maybe_fail("cancel_invoice")
        invoice = self.invoices[qpay_invoice_id]
        if any(row.is_paid for row in invoice.rows):
            return CancelOutcome.ALREADY_PAID
        if invoice.cancelled:
            return CancelOutcome.ALREADY_CANCELLED
        invoice.cancelled = True
        return CancelOutcome.CANCELLED

    async def refund_payment(self, qpay_payment_id: str, note: str) -> RefundOutcome:
        """Card money comes back; anything else is QPay's PAYMENT_SETTLED."""
        self._maybe_fail("refund_payment")
        invoice, index = self._payment(qpay_payment_id)
        row = invoice.rows[index]
        if row.payment_type != "CARD":
            return RefundOutcome.NOT_SUPPORTED
        if row.status != "PAID":
            raise GatewayRejected("PAYMENT_ALREADY_CANCELED", "not paid")
        invoice.rows[index] = replace(row, status="REFUNDED")
        return RefundOutcome.REFUNDED

    async def payment_status(self, qpay_payment_id: str) -> str:
        self._maybe_fail("payment_status")
        invoice, index = self._payment(qpay_payment_id)
        return invoice.rows[index].status

    def _payment(self, qpay_payment_id: str) -> tuple[FakeInvoice, int]:
        for invoice in self.invoices.values():
            for index, row in enumerate(invoice.rows):
                if row.payment_id == qpay_payment_id:
                    return invoice, index
        raise GatewayRejected("PAYMENT_NOTFOUND", "no such payment")

    async def void_receipts(
        self, qpay_payment_id: str, ebarimt_id: str | None = None
    ) -> ReceiptVoid:
        self._maybe_fail("void_receipts")
        if self.ebarimt_api == "v2" and ebarimt_id is None:
            return ReceiptVoid.UNSUPPORTED
        if self.registered.pop(qpay_payment_id, 0):
            return ReceiptVoid.VOIDED
        return ReceiptVoid.NONE_FOUND

    async def list_payments(
        self, start: datetime, end: datetime, page: int
    ) -> LedgerPage:
        """Every payment on every invoice, whatever the dates (the date window
        is QPay's and the simulator's business; see tests/integration)."""
        self._maybe_fail("list_payments")
        rows = [
            LedgerRow(
                row.payment_id,
                row.status,
                row.amount,
                row.currency,
                qpay_invoice_id,
                paid_at=self.paid_at.get(row.payment_id),
            )
            for qpay_invoice_id, invoice in self.invoices.items()
            for row in invoice.rows
        ]
        # Rows no table can hold, named by the QPay invoice they paid (as the
        # real list names them), on the first page.
        malformed = tuple(
            replace(bad, qpay_invoice_id=qpay_invoice_id)
            for qpay_invoice_id, invoice in self.invoices.items()
            for bad in invoice.malformed
        )
        first = (page - 1) * 100
        return LedgerPage(
            rows=tuple(rows[first : first + 100]),
            malformed=malformed if page == 1 else (),
            total=len(rows) + len(malformed),
        )

    async def create_receipt(self, request: ReceiptRequest) -> IssuedReceipt:
        self.calls.append("create_receipt")
        error = self.fail_with.get("create_receipt")
        # A failure that may have reached QPay happens after QPay made the
        # receipt (its answer was lost); any other never got that far.
        if error is None or (
            isinstance(error, GatewayUnavailable) and error.may_have_reached
        ):
            self.receipts.append(request)
            payment = request.qpay_payment_id
            self.registered[payment] = self.registered.get(payment, 0) + 1
        if error is not None:
            raise error
        return IssuedReceipt(
            ebarimt_id=str(uuid4()), lottery="AB 12345678", qr_data="QR"
        )

    def pay(
        self,
        qpay_invoice_id: str,
        amount: Decimal | None = None,
        payment_id: str | None = None,
        at: datetime | None = None,
        payment_type: str = "P2P",
    ) -> str:
        """A patient pays; `at` is the payment date QPay's list shows."""
        invoice = self.invoices[qpay_invoice_id]
        paid_id = payment_id or str(uuid4().int)[:15]
        self.paid_at[paid_id] = at
        invoice.rows.append(
            PaymentRow(
                payment_id=paid_id,
                status="PAID",
                amount=invoice.request.amount if amount is None else amount,
                payment_type=payment_type,
            )
        )
        return paid_id
