"""QPayGateway: the domain's PaymentGateway port, implemented with QPayClient."""

from __future__ import annotations

from typing import Literal

from domain.errors import GatewayRejected, GatewayUnavailable
from domain.gateway import (
    CancelOutcome,
    CreatedInvoice,
    Deeplink,
    InvoiceRequest,
    IssuedReceipt,
    PaymentCheck,
    PaymentRow,
    QPayEnvironment,
    ReceiptRequest,
)
from qpay.client import QPayClient
from qpay.errors import QPayError, QPayUnavailable

ALREADY_CANCELLED = "INVOICE_ALREADY_CANCELED"
ALREADY_PAID = "INVOICE_PAID"


def _domain_error(error: QPayError) -> GatewayUnavailable | GatewayRejected:
    if isinstance(error, QPayUnavailable):
        return GatewayUnavailable(
            error.message, may_have_reached=error.may_have_reached
        )
    return GatewayRejected(error.code or "QPAY_ERROR", error.message)


class QPayGateway:
    """Maps QPay's answers to domain values and its errors to domain errors."""

    def __init__(
        self,
        client: QPayClient,
        *,
        environment: QPayEnvironment,
        invoice_code: str,
        receiver_code: str = "terminal",
        ebarimt_api: Literal["v2", "v3"] = "v2",
    ) -> None:
        self.client = client
        self._environment = environment
        self._invoice_code = invoice_code
        self._receiver_code = receiver_code
        self._ebarimt_api: Literal["v2", "v3"] = ebarimt_api

    @property
    def environment(self) -> QPayEnvironment:
        return self._environment

    async def create_invoice(self, request: InvoiceRequest) -> CreatedInvoice:
        try:
            answer = await self.client.create_invoice(
                invoice_code=self._invoice_code,
                sender_invoice_no=request.sender_invoice_no,
                invoice_receiver_code=self._receiver_code,
                invoice_description=request.description[:255],
                amount=request.amount,
                callback_url=request.callback_url,
            )
        except QPayError as error:
            raise _domain_error(error) from None
        return CreatedInvoice(
            qpay_invoice_id=answer.invoice_id,
            qr_text=answer.qr_text,
            qr_image=answer.qr_image,
            short_url=answer.short_url,
            deeplinks=tuple(
                Deeplink(
                    name=u.name, link=u.link, description=u.description, logo=u.logo
                )
                for u in answer.urls
            ),
            # The QR image is large and already stored on its own; keep the rest.
            raw=answer.model_dump(mode="json", exclude={"qr_image"}, by_alias=True),
        )

    async def check_payment(self, qpay_invoice_id: str) -> PaymentCheck:
        try:
            result = await self.client.check_payment(qpay_invoice_id)
        except QPayError as error:
            raise _domain_error(error) from None
        return PaymentCheck(
            rows=tuple(
                PaymentRow(
                    payment_id=row.payment_id,
                    status=row.payment_status,
                    amount=row.payment_amount,
                    currency=row.payment_currency or "MNT",
                    payment_type=row.kind,
                )
                for row in result.rows
            ),
            raw={"count": result.count, "pages": list(result.pages)},
        )

    async def cancel_invoice(self, qpay_invoice_id: str) -> CancelOutcome:
        try:
            await self.client.cancel_invoice(qpay_invoice_id)
        except QPayError as error:
            if error.code == ALREADY_CANCELLED:
                return CancelOutcome.ALREADY_CANCELLED
            if error.code == ALREADY_PAID:
                return CancelOutcome.ALREADY_PAID
            raise _domain_error(error) from None
        return CancelOutcome.CANCELLED

    async def create_receipt(self, request: ReceiptRequest) -> IssuedReceipt:
        try:
            answer = await self.client.create_ebarimt(
                payment_id=request.qpay_payment_id,
                receiver_type=request.receiver_type.value,
                receiver=request.receiver,
                family=self._ebarimt_api,
            )
        except QPayError as error:
            raise _domain_error(error) from None
        return IssuedReceipt(
            ebarimt_id=answer.id,
            lottery=answer.ebarimt_lottery,
            qr_data=answer.ebarimt_qr_data,
            raw=answer.model_dump(mode="json"),
        )
