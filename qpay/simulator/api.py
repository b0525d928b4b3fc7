"""The QPay v2 surface of the simulator: the same paths, shapes, status codes
and error bodies as QPay (reference/qpay-v2.md), served under /v2.

Handlers read the request body first and then change state without awaiting,
under the simulator's lock, so concurrent requests never interleave halfway.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterator
from decimal import Decimal
from typing import Any, Literal, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from qpay.simulator.checks import (
    COMPANY_REGISTER,
    MAX_PAGE_LIMIT,
    answer,
    invoice_problem,
    list_date,
    page_offset,
    utc_offset,
)
from qpay.simulator.payloads import (
    deeplinks,
    invoice_json,
    list_row_json,
    number,
    payment_json,
    qr_png_base64,
    qr_text_for,
    receipt_json,
    row_json,
)
from qpay.simulator.state import (
    RowShape,
    SimInvoice,
    SimPayment,
    SimState,
    SimToken,
    decode_basic,
    error_body,
    new_receipt,
    new_token,
    token_json,
    validation_error,
)

Handler = Callable[[Request], Awaitable[Response]]


class SimulatorLike(Protocol):
    """What the QPay surface needs from the simulator that owns it."""

    @property
    def state(self) -> SimState: ...

    @property
    def client_id(self) -> str: ...

    @property
    def client_secret(self) -> str: ...

    @property
    def invoice_codes(self) -> Collection[str]: ...

    @property
    def token_ttl_seconds(self) -> int: ...

    @property
    def row_shape(self) -> RowShape: ...

    @property
    def list_utc_offset_hours(self) -> float: ...

    def clock(self) -> float: ...


async def read_json(request: Request) -> Any:
    """The body as JSON (numbers as Decimal); None when it is not JSON."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw, parse_float=Decimal)
    except ValueError:
        return None


class QPayApi:
    """Starlette routes of QPay v2 over one simulator's state."""

    def __init__(self, sim: SimulatorLike) -> None:
        self.sim = sim

    @property
    def state(self) -> SimState:
        return self.sim.state

    def routes(self) -> list[Route]:
        bearer = self._bearer_only
        return [
            Route("/v2/auth/token", self.auth_token, methods=["POST"]),
            Route("/v2/auth/refresh", self.auth_refresh, methods=["POST"]),
            Route("/v2/invoice", bearer(self.invoice_create), methods=["POST"]),
            Route("/v2/invoice/{id}", bearer(self.invoice_get), methods=["GET"]),
            Route("/v2/invoice/{id}", bearer(self.invoice_cancel), methods=["DELETE"]),
            Route("/v2/payment/check", bearer(self.payment_check), methods=["POST"]),
            Route("/v2/payment/list", bearer(self.payment_list), methods=["POST"]),
            Route(
                "/v2/payment/cancel/{id}",
                bearer(self.payment_cancel),
                methods=["DELETE"],
            ),
            Route(
                "/v2/payment/refund/{id}",
                bearer(self.payment_refund),
                methods=["DELETE"],
            ),
            Route("/v2/payment/{id}", bearer(self.payment_get), methods=["GET"]),
            Route("/v2/ebarimt/create", bearer(self.ebarimt_create), methods=["POST"]),
            Route("/v2/ebarimt/{id}", bearer(self.ebarimt_get), methods=["GET"]),
            Route("/v2/ebarimt/{id}", bearer(self.ebarimt_cancel), methods=["DELETE"]),
            Route(
                "/v2/ebarimt_v3/create",
                bearer(self.ebarimt_v3_create),
                methods=["POST"],
            ),
            Route(
                "/v2/ebarimt_v3/{id}",
                bearer(self.ebarimt_v3_cancel),
                methods=["DELETE"],
            ),
        ]

    # --- auth -------------------------------------------------------------

    def _current_token(self, request: Request) -> SimToken | None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = self.state.tokens.get(value.strip())
        if token is None or token.expires_at <= self.sim.clock():
            return None
        return token

    def _bearer_only(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            if self._current_token(request) is None:
                # 53 bytes, as the sandbox answers (reference §3.2).
                return answer(error_body("NO_CREDENDIALS"), 401)
            return await handler(request)

        return guarded

    def _issue(self) -> Response:
        state = self.state
        token = new_token(
            state, self.sim.client_id, self.sim.clock(), self.sim.token_ttl_seconds
        )
        state.tokens[token.access] = token
        state.refresh_tokens[token.refresh] = token
        state.tokens_issued += 1
        return answer(token_json(token))

    async def auth_token(self, request: Request) -> Response:
        credentials = decode_basic(request.headers.get("authorization", ""))
        valid = credentials is not None and (
            secrets.compare_digest(credentials[0].encode(), self.sim.client_id.encode())
            & secrets.compare_digest(
                credentials[1].encode(), self.sim.client_secret.encode()
            )
        )
        if not valid:
            return answer(error_body("AUTHENTICATION_FAILED"), 401)
        return self._issue()

    async def auth_refresh(self, request: Request) -> Response:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        token = self.state.refresh_tokens.get(value.strip())
        if scheme.lower() != "bearer" or token is None:
            return answer(error_body("NO_CREDENDIALS"), 401)
        if token.expires_at <= self.sim.clock():
            return answer(error_body("NO_CREDENDIALS"), 401)
        return self._issue()

    # --- invoices -----------------------------------------------------------

    async def invoice_create(self, request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            return answer(error_body("OBJECT_DATA_ERROR"), 400)
        checked = invoice_problem(body, self.sim.invoice_codes)
        if isinstance(checked, Response):
            return checked
        invoice_id = str(uuid.uuid4())
        qr_text = qr_text_for(invoice_id, checked)
        async with self.state.lock:
            self.state.invoices[invoice_id] = SimInvoice(
                invoice_id=invoice_id,
                invoice_code=body["invoice_code"],
                sender_invoice_no=body["sender_invoice_no"],
                receiver_code=body["invoice_receiver_code"],
                description=body["invoice_description"],
                amount=checked,
                callback_url=body["callback_url"],
                qr_text=qr_text,
                created_at=self.sim.clock(),
                sender_branch_code=body.get("sender_branch_code"),
                lines=json.loads(json.dumps(body.get("lines") or [], default=str)),
            )
        return answer(
            {
                "invoice_id": invoice_id,
                "qr_text": qr_text,
                "qr_image": qr_png_base64(qr_text),
                "qPay_shortUrl": f"https://s.qpay.mn/{secrets.token_urlsafe(6)}",
                "urls": deeplinks(qr_text),
            }
        )

    async def invoice_get(self, request: Request) -> Response:
        invoice = self.state.invoices.get(request.path_params["id"])
        if invoice is None:
            return answer(error_body("INVOICE_NOTFOUND", "Нэхэмжлэл олдсонгүй"), 422)
        return answer(invoice_json(self.state, invoice))

    async def invoice_cancel(self, request: Request) -> Response:
        async with self.state.lock:
            invoice = self.state.invoices.get(request.path_params["id"])
            if invoice is None:
                # The sandbox answered 400 to an unknown id here (reference §4.3).
                return answer(
                    error_body("INVOICE_NOTFOUND", "Нэхэмжлэл олдсонгүй"), 400
                )
            if invoice.status == "CANCELLED":
                return answer(error_body("INVOICE_ALREADY_CANCELED"), 400)
            if invoice.payment_ids:
                return answer(error_body("INVOICE_PAID"), 400)
            invoice.status = "CANCELLED"
        return answer({})

    # --- payments -------------------------------------------------------------

    async def payment_check(self, request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            return answer(error_body("OBJECT_DATA_ERROR"), 400)
        object_type = body.get("object_type")
        if object_type not in ("INVOICE", "QR", "ITEM"):
            return answer(error_body("INVALID_OBJECT_TYPE"), 400)
        object_id = body.get("object_id")
        if not isinstance(object_id, str) or not object_id:
            return answer(validation_error("object_id", "REQUIRED", "Required!"), 400)
        offset = page_offset(body, required=False)
        if isinstance(offset, Response):
            return offset
        page_number, page_limit = offset
        invoices = [
            invoice
            for invoice in self.state.invoices.values()
            if (object_type == "INVOICE" and invoice.invoice_id == object_id)
            or (object_type == "QR" and invoice.qr_text == object_id)
        ]
        payments = [p for i in invoices for p in self.state.invoice_payments(i)]
        paid = sum((p.amount for p in payments if p.status == "PAID"), Decimal(0))
        start = (page_number - 1) * page_limit
        page = payments[start : start + page_limit]
        shape = self.sim.row_shape
        return answer(
            {
                "count": len(payments),
                "paid_amount": number(paid),
                "rows": [row_json(p, shape) for p in page],
            }
        )

    async def payment_get(self, request: Request) -> Response:
        payment = self.state.payments.get(request.path_params["id"])
        if payment is None:
            return answer(error_body("PAYMENT_NOTFOUND"), 422)
        return answer(payment_json(payment))

    async def _reverse(self, request: Request, new_status: str) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            return answer(error_body("OBJECT_DATA_ERROR"), 400)
        note = body.get("note")
        if not isinstance(note, str) or not note:
            return answer(validation_error("note", "REQUIRED", "Required!"), 400)
        async with self.state.lock:
            payment = self.state.payments.get(request.path_params["id"])
            if payment is None:
                return answer(error_body("PAYMENT_NOTFOUND"), 422)
            if payment.payment_type != "CARD":
                # Bank transfers are settled at once: card payments only (§5.4).
                return answer(error_body("PAYMENT_SETTLED"), 400)
            if payment.status != "PAID":
                return answer(error_body("PAYMENT_ALREADY_CANCELED"), 400)
            payment.status = new_status
        return answer({})

    async def payment_cancel(self, request: Request) -> Response:
        return await self._reverse(request, "CANCELLED")

    async def payment_refund(self, request: Request) -> Response:
        return await self._reverse(request, "REFUNDED")

    async def payment_list(self, request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            return answer(error_body("OBJECT_DATA_ERROR"), 400)
        offset = page_offset(body, required=True, limit_checked=False)
        if isinstance(offset, Response):
            return offset
        page_number, page_limit = offset
        if page_limit > MAX_PAGE_LIMIT:
            # Where payment/check refuses with a 400, the sandbox answers large
            # pages of this endpoint with a 500 (reference §5.3).
            return answer(error_body("SYSTEM_BUSY"), 500)
        # The dates' timezone is not documented (reference §5.3): UTC unless a
        # test models QPay reading them as local time (Ulaanbaatar is UTC+8).
        zone = utc_offset(self.sim.list_utc_offset_hours)
        start_at = list_date(body, "start_date", zone)
        if isinstance(start_at, Response):
            return start_at
        end_at = list_date(body, "end_date", zone)
        if isinstance(end_at, Response):
            return end_at
        object_type, object_id = body.get("object_type"), body.get("object_id")
        if object_type == "MERCHANT" and object_id != self.state.merchant_id:
            return answer(error_body("PERMISSION_DENIED"), 401)
        if object_type not in ("INVOICE", "MERCHANT", "QR"):
            return answer(error_body("INVALID_OBJECT_TYPE"), 400)
        listed = [
            (payment, invoice)
            for payment, invoice in self._payments_of(object_type, object_id)
            if start_at <= payment.paid_at <= end_at
        ]
        # Oldest first, ties by id: pages stay stable while payments arrive.
        listed.sort(key=lambda pair: (pair[0].paid_at, pair[0].payment_id))
        start = (page_number - 1) * page_limit
        page = listed[start : start + page_limit]
        return answer(
            {
                "count": len(listed),
                "rows": [list_row_json(payment, invoice) for payment, invoice in page],
            }
        )

    def _payments_of(
        self, object_type: str, object_id: object
    ) -> Iterator[tuple[SimPayment, SimInvoice]]:
        """The payments payment/list reports for one object, with invoices."""
        for invoice in self.state.invoices.values():
            if (
                object_type == "MERCHANT"
                # For INVOICE the object id is the invoice_code (reference §5.3).
                or (object_type == "INVOICE" and invoice.invoice_code == object_id)
                or (object_type == "QR" and invoice.qr_text == object_id)
            ):
                for payment in self.state.invoice_payments(invoice):
                    yield payment, invoice

    # --- e-Barimt ---------------------------------------------------------------

    async def _receipt_create(
        self, request: Request, family: Literal["v2", "v3"]
    ) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            return answer(error_body("OBJECT_DATA_ERROR"), 400)
        receiver_type = body.get("ebarimt_receiver_type")
        if receiver_type not in ("CITIZEN", "COMPANY"):
            error = validation_error("ebarimt_receiver_type", "INVALID", "Invalid!")
            return answer(error, 400)
        receiver = body.get("ebarimt_receiver")
        if receiver_type == "COMPANY" and not COMPANY_REGISTER.match(str(receiver)):
            return answer(error_body("CUSTOMER_REGISTER_INVALID"), 400)
        async with self.state.lock:
            payment = self.state.payments.get(str(body.get("payment_id")))
            if payment is None:
                return answer(error_body("PAYMENT_NOTFOUND"), 422)
            if payment.status != "PAID":
                return answer(error_body("PAYMENT_NOT_PAID"), 400)
            # Every create makes a new receipt. Nothing says QPay's create is
            # idempotent, so the simulator models the worst case: a replayed
            # create registers the sale twice.
            receipt = new_receipt(
                family,
                payment,
                receiver_type,
                str(receiver) if receiver else None,
                self.sim.clock(),
            )
            self.state.receipts[receipt.receipt_id] = receipt
        return answer(receipt_json(receipt, self.state.merchant_id))

    async def ebarimt_create(self, request: Request) -> Response:
        return await self._receipt_create(request, "v2")

    async def ebarimt_v3_create(self, request: Request) -> Response:
        return await self._receipt_create(request, "v3")

    async def ebarimt_get(self, request: Request) -> Response:
        receipt = self.state.receipts.get(request.path_params["id"])
        if receipt is None or receipt.family != "v2":
            return answer(error_body("BARIMT_NOT_FOUND"), 422)
        return answer(receipt_json(receipt, self.state.merchant_id))

    async def ebarimt_cancel(self, request: Request) -> Response:
        async with self.state.lock:
            receipt = self.state.receipts.get(request.path_params["id"])
            if receipt is None or receipt.family != "v2":
                # The sandbox answers 500 SYSTEM_BUSY here (reference §6).
                return answer(error_body("SYSTEM_BUSY"), 500)
            if receipt.status != "REGISTERED":
                return answer(error_body("EBARIMT_NOT_REGISTERED"), 400)
            receipt.status, receipt.status_at = "CANCELED", self.sim.clock()
        return answer(receipt_json(receipt, self.state.merchant_id))

    async def ebarimt_v3_cancel(self, request: Request) -> Response:
        payment_id = request.path_params["id"]
        async with self.state.lock:
            found = self.state.registered_receipts(payment_id, "v3")
            if not found:
                return answer(error_body("BARIMT_NOT_FOUND"), 422)
            for receipt in found:
                receipt.status, receipt.status_at = "CANCELED", self.sim.clock()
        return answer(receipt_json(found[-1], self.state.merchant_id))
