"""QPayGateway: the domain's PaymentGateway port, implemented with QPayClient.

The only module of qpay/ that imports `domain`. It maps QPay's answers to the
domain's values and QPay's errors to the domain's:

    QPayUnavailable                          -> GatewayUnavailable(may_have_reached)
    QPayRejected, QPayNotFound, QPayAuthError -> GatewayRejected(qpay_code, message)

except on cancel_invoice, where INVOICE_ALREADY_CANCELED and INVOICE_PAID
are answers (ALREADY_CANCELLED, ALREADY_PAID), not errors.

payment/check rows are checked against what the payments table can hold
(amount > 0 with at most 2 decimals within NUMERIC(14,2), an id of at most 64
characters, a three-letter currency): a PAID row that fails becomes a
MalformedRow for a person to look at, never a row that fails an insert.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar

from domain.errors import GatewayRejected, GatewayUnavailable
from domain.money import amount_problem
from domain.qpay_messages import (
    MAX_PAYMENT_ID_LENGTH,
    PAID,
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
from qpay.client import MAX_PAGE_LIMIT, QPayClient
from qpay.errors import QPayError, QPayUnavailable
from qpay.schemas import CheckRowAnswer, ListRowAnswer, ReceiptAnswer, RowProblem

ALREADY_CANCELLED = "INVOICE_ALREADY_CANCELED"  # QPay's spelling
ALREADY_PAID = "INVOICE_PAID"
RECEIPT_NOT_FOUND = "BARIMT_NOT_FOUND"
# A refund of money QPay cannot reverse through the API (P2P; reference §5.4).
PAYMENT_SETTLED = "PAYMENT_SETTLED"
MAX_DESCRIPTION = 255
DEFAULT_CURRENCY = "MNT"
CURRENCY_CODE = re.compile(r"[A-Z]{3}")
# QPay's own timezone (Ulaanbaatar, no daylight saving since 2017).
QPAY_HOME_OFFSET = timedelta(hours=8)
RowAnswerT = TypeVar("RowAnswerT", CheckRowAnswer, ListRowAnswer)
DomainRowT = TypeVar("DomainRowT", PaymentRow, LedgerRow)


def _domain_error(error: QPayError) -> GatewayUnavailable | GatewayRejected:
    if isinstance(error, QPayUnavailable):
        return GatewayUnavailable(
            error.message, may_have_reached=error.may_have_reached
        )
    return GatewayRejected(error.code or f"HTTP_{error.status}", error.message)


def _row(row: CheckRowAnswer) -> PaymentRow:
    return PaymentRow(
        payment_id=row.payment_id,
        status=row.payment_status,
        amount=row.payment_amount,
        currency=_currency(row),
        payment_type=row.kind,
    )


def _currency(row: CheckRowAnswer | ListRowAnswer) -> str:
    return (row.payment_currency or DEFAULT_CURRENCY).strip().upper()


def _row_problem(row: CheckRowAnswer | ListRowAnswer) -> str | None:
    """Why this row cannot be recorded as it is (None: it can)."""
    if len(row.payment_id) > MAX_PAYMENT_ID_LENGTH:
        return f"payment id longer than {MAX_PAYMENT_ID_LENGTH} characters"
    if CURRENCY_CODE.fullmatch(_currency(row)) is None:
        return f"currency {(row.payment_currency or '')[:16]!r} is not a code"
    problem = amount_problem(row.payment_amount)
    if problem is not None:
        return f"{problem} ({str(row.payment_amount)[:32]})"
    return None


def _paid_at(text: str | None) -> datetime | None:
    """QPay's payment_date ("2022-03-11T05:57:47.336Z"), or None."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _ledger_invoice(row: ListRowAnswer) -> str | None:
    return row.object_id if row.object_type == "INVOICE" else None


def _ledger_row(row: ListRowAnswer) -> LedgerRow:
    return LedgerRow(
        payment_id=row.payment_id,
        status=row.payment_status,
        amount=row.payment_amount,
        currency=_currency(row),
        qpay_invoice_id=_ledger_invoice(row),
        paid_at=_paid_at(row.payment_date),
        payment_type=row.paid_by,
    )


def _checked(
    answers: Iterable[RowAnswerT],
    problems: Iterable[RowProblem],
    convert: Callable[[RowAnswerT], DomainRowT],
    invoice_of: Callable[[RowAnswerT], str | None] = lambda _answer: None,
) -> tuple[tuple[DomainRowT, ...], tuple[MalformedRow, ...]]:
    """The rows we can record, and the ones that may be a payment but cannot
    be recorded as QPay sent them. A bad row that is not PAID changes nothing
    and is left out."""
    rows: list[DomainRowT] = []
    malformed: list[MalformedRow] = []
    for answer in answers:
        problem = _row_problem(answer)
        if problem is None:
            rows.append(convert(answer))
        elif answer.payment_status == PAID:
            malformed.append(
                MalformedRow(answer.payment_id[:64], problem, invoice_of(answer))
            )
    for unreadable in problems:
        # A row whose status cannot even be read may be a payment.
        if unreadable.status in (None, PAID):
            malformed.append(MalformedRow(unreadable.payment_id, unreadable.reason))
    return tuple(rows), tuple(malformed)


class QPayGateway:
    """PaymentGateway over QPay v2. create_invoice, cancel_invoice and
    create_receipt are never retried; check_payment retries as a read.
    Raises GatewayUnavailable or GatewayRejected."""

    def __init__(
        self,
        client: QPayClient,
        *,
        environment: QPayEnvironment,
        invoice_code: str,
        receiver_code: str = "terminal",
        ebarimt_api: Literal["v2", "v3"] = "v2",
    ) -> None:
        self._client = client
        self._environment = environment
        self._invoice_code = invoice_code
        self._receiver_code = receiver_code
        self._ebarimt_api: Literal["v2", "v3"] = ebarimt_api

    def __repr__(self) -> str:
        return (
            f"QPayGateway({self._client!r}, environment={self._environment.value}, "
            f"invoice_code={self._invoice_code!r}, ebarimt_api={self._ebarimt_api!r})"
        )

    @property
    def environment(self) -> QPayEnvironment:
        return self._environment

    async def create_invoice(self, request: InvoiceRequest) -> CreatedInvoice:
        """POST /invoice once; GatewayUnavailable says whether it may exist."""
        try:
            answer = await self._client.create_invoice(
                invoice_code=self._invoice_code,
                sender_invoice_no=request.sender_invoice_no,
                invoice_receiver_code=self._receiver_code,
                invoice_description=request.description[:MAX_DESCRIPTION],
                amount=request.amount,
                callback_url=request.callback_url,
            )
        except QPayError as error:
            raise _domain_error(error) from None
        # The QR image is large and stored on its own; keep the rest for audit.
        raw = {k: v for k, v in answer.raw.items() if k != "qr_image"}
        return CreatedInvoice(
            qpay_invoice_id=answer.invoice_id,
            qr_text=answer.qr_text,
            qr_image=answer.qr_image,
            short_url=answer.short_url,
            deeplinks=tuple(
                Deeplink(
                    name=link.name,
                    link=link.link,
                    description=link.description,
                    logo=link.logo,
                )
                for link in answer.urls
            ),
            raw=raw,
        )

    async def check_payment(self, qpay_invoice_id: str) -> PaymentCheck:
        """Every payment/check row of the invoice; `raw` keeps QPay's pages."""
        try:
            result = await self._client.check_payment(qpay_invoice_id)
        except QPayError as error:
            raise _domain_error(error) from None
        rows, malformed = _checked(result.rows, result.problems, _row)
        return PaymentCheck(
            rows=rows,
            raw={"count": result.count, "pages": list(result.pages)},
            malformed=malformed,
        )

    async def cancel_invoice(self, qpay_invoice_id: str) -> CancelOutcome:
        """DELETE /invoice/{id} once; already cancelled or paid are outcomes."""
        try:
            await self._client.cancel_invoice(qpay_invoice_id)
        except QPayError as error:
            if error.code == ALREADY_CANCELLED:
                return CancelOutcome.ALREADY_CANCELLED
            if error.code == ALREADY_PAID:
                return CancelOutcome.ALREADY_PAID
            raise _domain_error(error) from None
        return CancelOutcome.CANCELLED

    async def refund_payment(self, qpay_payment_id: str, note: str) -> RefundOutcome:
        """DELETE /payment/refund/{id} once; P2P money is NOT_SUPPORTED."""
        try:
            await self._client.refund_payment(qpay_payment_id, note)
        except QPayError as error:
            if error.code == PAYMENT_SETTLED:
                return RefundOutcome.NOT_SUPPORTED
            raise _domain_error(error) from None
        return RefundOutcome.REFUNDED

    async def payment_status(self, qpay_payment_id: str) -> str:
        """GET /payment/{id}: the payment's status as QPay holds it now."""
        try:
            answer = await self._client.get_payment(qpay_payment_id)
        except QPayError as error:
            raise _domain_error(error) from None
        return answer.payment_status.strip().upper()

    async def void_receipts(
        self, qpay_payment_id: str, ebarimt_id: str | None = None
    ) -> ReceiptVoid:
        """e-Barimt 3.0: DELETE /ebarimt_v3/{payment_id} cancels the payment's
        receipts (BARIMT_NOT_FOUND: it has none). The v2 family cancels by
        receipt id only (DELETE /ebarimt/{id}): without it, it cannot answer
        for a payment. Never retried."""
        try:
            if self._ebarimt_api == "v2":
                if ebarimt_id is None:
                    return ReceiptVoid.UNSUPPORTED
                await self._client.cancel_ebarimt(ebarimt_id)
            else:
                await self._client.cancel_ebarimt_v3(qpay_payment_id)
        except QPayError as error:
            if error.code == RECEIPT_NOT_FOUND:
                return ReceiptVoid.NONE_FOUND
            raise _domain_error(error) from None
        return ReceiptVoid.VOIDED

    async def list_payments(
        self, start: datetime, end: datetime, page: int
    ) -> LedgerPage:
        """One page of payment/list for our invoice code. QPay does not say in
        which timezone it reads these dates (reference §5.3): they go in UTC,
        with the end moved QPAY_HOME_OFFSET later, so the period is covered
        whether QPay reads them as UTC or as Ulaanbaatar time (UTC+8). Payments
        from a little outside the period may come back; they are harmless."""
        try:
            result = await self._client.list_payments(
                object_type="INVOICE",
                object_id=self._invoice_code,
                start_date=start,
                end_date=end + QPAY_HOME_OFFSET,
                page_number=page,
                page_limit=MAX_PAGE_LIMIT,
            )
        except QPayError as error:
            raise _domain_error(error) from None
        rows, malformed = _checked(
            result.rows, result.problems, _ledger_row, _ledger_invoice
        )
        return LedgerPage(rows=rows, total=result.count, malformed=malformed)

    async def create_receipt(self, request: ReceiptRequest) -> IssuedReceipt:
        """e-Barimt create once, with the family QPay enabled for us."""
        create = (
            self._client.create_ebarimt
            if self._ebarimt_api == "v2"
            else self._client.create_ebarimt_v3
        )
        try:
            answer: ReceiptAnswer = await create(
                request.qpay_payment_id,
                request.receiver_type.value,
                request.receiver,
            )
        except QPayError as error:
            raise _domain_error(error) from None
        return IssuedReceipt(
            ebarimt_id=answer.id,
            lottery=answer.ebarimt_lottery,
            qr_data=answer.ebarimt_qr_data,
            raw=answer.raw,
        )
