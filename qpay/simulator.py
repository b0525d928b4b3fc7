"""QPaySimulator: a faithful, stateful fake of the QPay merchant API v2.

Serves the same paths, shapes, status codes and error bodies as QPay (see
reference/qpay-v2.md) under /v2, plus control endpoints under /_sim (each
also a Python method): pay an invoice, fail or delay the next calls of a
path, expire tokens, drop or duplicate callbacks, switch the payment/check
row shape, read the request log, reset. Paying calls the invoice's
callback_url the way QPay does: a GET with qpay_payment_id appended, in the
background. State is per instance and guarded by one lock.

The development run mounts it in process (QPAY_ENV=mock); `qpay-graph
qpay-sim` runs it alone; the tests and benchmarks use it on real ports.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from qpay.sim_state import (
    Fault,
    SimInvoice,
    SimPayment,
    SimReceipt,
    SimToken,
    deeplinks,
    error_body,
    new_token,
    qr_png_base64,
    qr_text_for,
    validation_error,
)

logger = logging.getLogger(__name__)

RowShape = Literal["documented", "live"]
LIMITS = {
    "invoice_code": 45,
    "sender_invoice_no": 45,
    "invoice_receiver_code": 45,
    "invoice_description": 255,
    "callback_url": 255,
    "sender_branch_code": 45,
}


def _json(data: Any, status: int = 200) -> Response:
    return JSONResponse(data, status_code=status)


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


class QPaySimulator:
    """A QPay v2 fake; `.app` is its Starlette application."""

    def __init__(
        self,
        *,
        client_id: str = "TEST_MERCHANT",
        client_secret: str = "123456",  # noqa: S107  # QPay's public sandbox login
        invoice_codes: Iterable[str] = ("TEST_INVOICE",),
        token_ttl_seconds: int = 86400,
        row_shape: RowShape = "live",
        callback_http: httpx.AsyncClient | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.invoice_codes = set(invoice_codes)
        self.token_ttl_seconds = token_ttl_seconds
        self.row_shape: RowShape = row_shape
        self._callback_http = callback_http
        self._owns_callback_http = callback_http is None
        self._now = now
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self.reset()
        self.app = self._build_app()

    # --- state and control (Python API) -------------------------------------

    def reset(self) -> None:
        self.tokens: dict[str, SimToken] = {}
        self.refresh_tokens: dict[str, SimToken] = {}
        self.invoices: dict[str, SimInvoice] = {}
        self.payments: dict[str, SimPayment] = {}
        self.receipts: dict[str, SimReceipt] = {}
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []
        self.callbacks_sent: list[dict[str, Any]] = []
        self.callbacks_failed = 0
        self.drop_callbacks = False
        self.duplicate_callbacks = 1
        self.tokens_issued = 0

    def fail_next(
        self,
        path: str,
        *,
        count: int = 1,
        status: int = 500,
        body: Any = None,
        method: str | None = None,
    ) -> None:
        """The next `count` calls of `path` answer `status` with `body`."""
        self.faults.append(Fault(path, count, status, body, method))

    def delay_next(
        self,
        path: str,
        *,
        count: int = 1,
        seconds: float = 1.0,
        method: str | None = None,
    ) -> None:
        self.faults.append(Fault(path, count, 0, None, method, delay=seconds))

    def expire_tokens(self) -> None:
        for token in [*self.tokens.values(), *self.refresh_tokens.values()]:
            token.expires_at = self._now() - 1

    def set_callbacks(
        self, *, drop: bool | None = None, duplicate: int | None = None
    ) -> None:
        if drop is not None:
            self.drop_callbacks = drop
        if duplicate is not None:
            self.duplicate_callbacks = max(1, duplicate)

    def pay(
        self,
        invoice_id: str,
        amount: Decimal | str | None = None,
        *,
        payment_type: Literal["P2P", "CARD"] = "P2P",
        force: bool = False,
    ) -> str:
        """A patient pays (all, part or more than the amount); returns QPay's
        payment id and sends the callback in the background."""
        invoice = self.invoices.get(invoice_id)
        if invoice is None:
            raise KeyError(f"unknown invoice {invoice_id}")
        if invoice.status == "CANCELLED" and not force:
            raise ValueError(
                "the invoice is cancelled (pass force=True to model a race)"
            )
        paid = invoice.amount if amount is None else Decimal(str(amount))
        if paid <= 0:
            raise ValueError("amount must be positive")
        payment_id = (
            str(uuid.uuid4())
            if payment_type == "CARD"
            else str(secrets.randbelow(10**15) + 10**14)
        )
        self.payments[payment_id] = SimPayment(
            payment_id=payment_id,
            invoice_id=invoice_id,
            amount=paid,
            payment_type=payment_type,
            date=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        )
        invoice.payment_ids.append(payment_id)
        if (
            invoice.paid_total(self.payments) >= invoice.amount
            and invoice.status == "OPEN"
        ):
            invoice.status = "CLOSED"
        self._send_callback(invoice.callback_url, payment_id)
        return payment_id

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._callback_http is not None and self._owns_callback_http:
            await self._callback_http.aclose()
            self._callback_http = None

    # --- callbacks ----------------------------------------------------------

    def _send_callback(self, callback_url: str, payment_id: str) -> None:
        if self.drop_callbacks:
            return
        url = _append_query(callback_url, {"qpay_payment_id": payment_id})
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for _ in range(self.duplicate_callbacks):
            task = loop.create_task(self._deliver(url))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str) -> None:
        if self._callback_http is None:
            self._callback_http = httpx.AsyncClient(timeout=10.0)
        self.callbacks_sent.append({"url": url, "sent_at": time.time()})
        try:
            await self._callback_http.get(url)
        except httpx.HTTPError as error:
            self.callbacks_failed += 1
            logger.warning("simulated callback failed: %s", type(error).__name__)

    # --- HTTP plumbing ------------------------------------------------------

    def _build_app(self) -> Starlette:
        v2 = [
            Route("/v2/auth/token", self._token, methods=["POST"]),
            Route("/v2/auth/refresh", self._refresh, methods=["POST"]),
            Route("/v2/invoice", self._invoice_create, methods=["POST"]),
            Route("/v2/invoice/{invoice_id}", self._invoice_get, methods=["GET"]),
            Route("/v2/invoice/{invoice_id}", self._invoice_cancel, methods=["DELETE"]),
            Route("/v2/payment/check", self._payment_check, methods=["POST"]),
            Route("/v2/payment/list", self._payment_list, methods=["POST"]),
            Route(
                "/v2/payment/cancel/{payment_id}",
                self._payment_cancel,
                methods=["DELETE"],
            ),
            Route(
                "/v2/payment/refund/{payment_id}",
                self._payment_refund,
                methods=["DELETE"],
            ),
            Route("/v2/payment/{payment_id}", self._payment_get, methods=["GET"]),
            Route("/v2/ebarimt/create", self._ebarimt_create_v2, methods=["POST"]),
            Route("/v2/ebarimt/{barimt_id}", self._ebarimt_get, methods=["GET"]),
            Route(
                "/v2/ebarimt/{barimt_id}", self._ebarimt_cancel_v2, methods=["DELETE"]
            ),
            Route("/v2/ebarimt_v3/create", self._ebarimt_create_v3, methods=["POST"]),
            Route(
                "/v2/ebarimt_v3/{payment_id}",
                self._ebarimt_cancel_v3,
                methods=["DELETE"],
            ),
        ]
        control = [
            Route("/_sim/pay", self._sim_pay, methods=["POST"]),
            Route("/_sim/fail", self._sim_fail, methods=["POST"]),
            Route("/_sim/delay", self._sim_delay, methods=["POST"]),
            Route("/_sim/expire-tokens", self._sim_expire, methods=["POST"]),
            Route("/_sim/callbacks", self._sim_callbacks, methods=["POST"]),
            Route("/_sim/row-shape", self._sim_row_shape, methods=["POST"]),
            Route("/_sim/requests", self._sim_requests, methods=["GET"]),
            Route("/_sim/reset", self._sim_reset, methods=["POST"]),
        ]
        app = Starlette(routes=[*v2, *control])
        return _Gate(app, self)  # type: ignore[return-value]  # ASGI wrapper, same interface

    async def _body(self, request: Request) -> Any:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw, parse_float=Decimal)
        except ValueError:
            return None

    def _bearer(self, request: Request) -> SimToken | None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = self.tokens.get(value.strip())
        if token is None or token.expires_at <= self._now():
            return None
        return token

    def _unauthorized(self) -> Response:
        return _json(error_body("NO_CREDENDIALS"), 401)

    # --- /v2/auth -----------------------------------------------------------

    def _issue(self) -> Response:
        token = new_token(self._now(), self.token_ttl_seconds)
        self.tokens[token.access] = token
        self.refresh_tokens[token.refresh] = token
        self.tokens_issued += 1
        expires = int(token.expires_at)
        return _json(
            {
                "token_type": "bearer",
                "refresh_expires_in": expires,
                "refresh_token": token.refresh,
                "access_token": token.access,
                "expires_in": expires,
                "scope": "get_token",
                "not-before-policy": "0",
                "session_state": "sandbox",
            }
        )

    async def _token(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except ValueError:
            user = password = ""
        valid = (
            scheme.lower() == "basic"
            and secrets.compare_digest(user, self.client_id)
            and secrets.compare_digest(password, self.client_secret)
        )
        if not valid:
            return _json(error_body("AUTHENTICATION_FAILED"), 401)
        return self._issue()

    async def _refresh(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        _, _, value = header.partition(" ")
        token = self.refresh_tokens.get(value.strip())
        if token is None or token.expires_at <= self._now():
            return self._unauthorized()
        return self._issue()

    # --- /v2/invoice --------------------------------------------------------

    async def _invoice_create(self, request: Request) -> Response:
        if self._bearer(request) is None:
            return self._unauthorized()
        body = await self._body(request)
        if not isinstance(body, dict):
            return _json(
                error_body("OBJECT_DATA_ERROR", "body must be a JSON object"), 400
            )
        for name in (
            "invoice_code",
            "sender_invoice_no",
            "invoice_receiver_code",
            "invoice_description",
            "callback_url",
        ):
            value = body.get(name)
            if not isinstance(value, str) or not value:
                return _json(validation_error(name, "REQUIRED", "Required!"), 400)
        for name, limit in LIMITS.items():
            value = body.get(name)
            if isinstance(value, str) and len(value) > limit:
                return _json(
                    validation_error(name, "MAX_LENGTH", f"Max length [{limit}]!"), 400
                )
        amount = _decimal(body.get("amount"))
        if amount is None:
            return _json(validation_error("amount", "REQUIRED", "Required!"), 400)
        if amount <= 0:
            return _json(error_body("INVALID_AMOUNT"), 400)
        if body["invoice_code"] not in self.invoice_codes:
            return _json(error_body("INVOICE_CODE_INVALID"), 400)
        async with self._lock:
            invoice_id = str(uuid.uuid4())
            qr_text = qr_text_for(invoice_id, amount)
            self.invoices[invoice_id] = SimInvoice(
                invoice_id=invoice_id,
                invoice_code=body["invoice_code"],
                sender_invoice_no=body["sender_invoice_no"],
                receiver_code=body["invoice_receiver_code"],
                description=body["invoice_description"],
                amount=amount,
                callback_url=body["callback_url"],
                qr_text=qr_text,
            )
        return _json(
            {
                "invoice_id": invoice_id,
                "qr_text": qr_text,
                "qr_image": qr_png_base64(qr_text),
                "qPay_shortUrl": f"https://s.qpay.mn/{invoice_id[:8]}",
                "urls": deeplinks(qr_text),
            }
        )

    async def _invoice_get(self, request: Request) -> Response:
        if self._bearer(request) is None:
            return self._unauthorized()
        invoice = self.invoices.get(request.path_params["invoice_id"])
        if invoice is None:
            return _json(error_body("INVOICE_NOTFOUND", "Нэхэмжлэл олдсонгүй"), 422)
        total = f"{invoice.amount:.2f}"
        return _json(
            {
                "invoice_id": invoice.invoice_id,
                "invoice_status": invoice.status,
                "sender_invoice_no": invoice.sender_invoice_no,
                "invoice_description": invoice.description,
                "total_amount": total,
                "gross_amount": total,
                "tax_amount": "0.00",
                "callback_url": invoice.callback_url,
                "payments": [
                    self._row(p, "live") for p in self._invoice_payments(invoice)
                ],
            }
        )

    async def _invoice_cancel(self, request: Request) -> Response:
        if self._bearer(request) is None:
            return self._unauthorized()
        async with self._lock:
            invoice = self.invoices.get(request.path_params["invoice_id"])
            if invoice is None:
                return _json(error_body("INVOICE_NOTFOUND", "Нэхэмжлэл олдсонгүй"), 422)
            if invoice.status == "CANCELLED":
                return _json(error_body("INVOICE_ALREADY_CANCELED"), 400)
            if invoice.payment_ids:
                return _json(error_body("INVOICE_PAID"), 400)
            invoice.status = "CANCELLED"
        return _json({})

    # --- /v2/payment --------------------------------------------------------

    def _invoice_payments(self, invoice: SimInvoice) -> list[SimPayment]:
        return [self.payments[p] for p in invoice.payment_ids]

    def _row(self, payment: SimPayment, shape: RowShape) -> dict[str, Any]:
        amount = f"{payment.amount:.2f}"
        if shape == "documented":
            return {
                "payment_id": payment.payment_id,
                "payment_status": payment.status,
                "payment_date": payment.date,
                "payment_fee": "0.00",
                "payment_amount": amount,
                "payment_currency": "MNT",
                "payemnt_wallet": "0",
                "transaction_type": payment.payment_type,
            }
        return {
            "payment_id": payment.payment_id,
            "payment_status": payment.status,
            "payment_amount": amount,
            "trx_fee": "0.00",
            "payment_currency": "MNT",
            "payment_wallet": "0",
            "payment_type": payment.payment_type,
            "next_payment_date": None,
            "next_payment_datetime": None,
            "card_transactions": []
            if payment.payment_type == "P2P"
            else [{"amount": amount}],
            "p2p_transactions": [{"amount": amount}]
            if payment.payment_type == "P2P"
            else [],
        }

    @staticmethod
    def _offset(body: dict[str, Any]) -> tuple[int, int] | Response:
        offset = body.get("offset") or {"page_number": 1, "page_limit": 100}
        number, limit = offset.get("page_number", 1), offset.get("page_limit", 100)
        for name, value in (("page_number", number), ("page_limit", limit)):
            if not isinstance(value, int) or value < 1:
                return _json(
                    validation_error(name, "MIN_NUMBER", "Number min value [1]!"), 400
                )
        if limit > 100:
            return _json(
                validation_error("page_limit", "MAX_NUMBER", "Number max value [100]!"),
                400,
            )
        return number, limit

    async def _payment_check(self, request: Request) -> Response:
        if self._bearer(request) is None:
            return self._unauthorized()
        body = await self._body(request)
        if not isinstance(body, dict):
            return _json(error_body("OBJECT_DATA_ERROR"), 400)
        if body.get("object_type") not in ("INVOICE", "QR", "ITEM"):
            return _json(error_body("INVALID_OBJECT_TYPE"), 400)
        offset = self._offset(body)
        if isinstance(offset, Response):
            return offset
        number, limit = offset
        invoice = self.invoices.get(str(body.get("object_id")))
        payments = self._invoice_payments(invoice) if invoice else []
        page = payments[(number - 1) * limit : number * limit]
        paid = sum((p.amount for p in payments if p.status == "PAID"), Decimal("0"))
        return _json(
            {
                "count": len(payments),
                "paid_amount": float(paid) if paid % 1 else int(paid),
                "rows": [self._row(p, self.row_shape) for p in page],
            }
        )

    async def _payment_get(self, request: Request) -> Response:
        if self._bearer(request) is None:
            return self._unauthorized()
        payment = self.payments.get(request.path_params["payment_id"])
        if payment is None:
            return _json(error_body("PAYMENT_NOTFOUND"), 422)
        return _json(
            {
                "payment_id": payment.payment_id,
                "payment_status": payment.status,
                "payment_fee": "0.00",
                "payment_amount": f"{payment.amount:.2f}",
                "payment_currency": "MNT",
                "payment_date": payment.date,
                "payment_wallet": "0",
                "transaction_type": payment.payment_type,
                "object_type": "INVOICE",
                "object_id": payment.invoice_id,
            }
        )

    async def _card_only(self, request: Request, new_status: str) -> Response:
        if self._bearer(request) is None:
            return self._unauthorized()
        async with self._lock:
            payment = self.payments.get(request.path_params["payment_id"])
            if payment is None:
                return _json(error_body("PAYMENT_NOTFOUND"), 422)
            if payment.payment_type != "CARD":
                return _json(error_body("PAYMENT_SETTLED"), 400)
            if payment.status != "PAID":
                return _json(error_body("PAYMENT_ALREADY_CANCELED"), 400)
            payment.status = new_status
        return _json({})

    async def _payment_cancel(self, request: Request) -> Response:
        return await self._card_only(request, "CANCELLED")

    async def _payment_refund(self, request: Request) -> Response:
        return await self._card_only(request, "REFUNDED")

    async def _payment_list(self, request: Request) -> Response:
        if self._bearer(request) is None:
            return self._unauthorized()
        body = await self._body(request)
        if not isinstance(body, dict) or "offset" not in body:
            return _json(validation_error("offset", "REQUIRED", "Required!"), 400)
        offset = self._offset(body)
        if isinstance(offset, Response):
            return offset
        number, limit = offset
        rows = [
            {
                **self._row(p, "documented"),
                "object_type": "INVOICE",
                "object_id": p.invoice_id,
                "paid_by": p.payment_type,
            }
            for p in self.payments.values()
        ]
        return _json(
            {"count": len(rows), "rows": rows[(number - 1) * limit : number * limit]}
        )

    # --- /v2/ebarimt ----------------------------------------------------------

    async def _ebarimt_create(self, request: Request, family: str) -> Response:
        if self._bearer(request) is None:
            return self._unauthorized()
        body = await self._body(request)
        if not isinstance(body, dict):
            return _json(error_body("OBJECT_DATA_ERROR"), 400)
        receiver_type = body.get("ebarimt_receiver_type")
        if receiver_type not in ("CITIZEN", "COMPANY"):
            return _json(
                validation_error("ebarimt_receiver_type", "INVALID", "Invalid!"), 400
            )
        async with self._lock:
            payment = self.payments.get(str(body.get("payment_id")))
            if payment is None or payment.status != "PAID":
                return _json(error_body("PAYMENT_NOTFOUND"), 422)
            receipt = SimReceipt(
                receipt_id=str(uuid.uuid4()),
                payment_id=payment.payment_id,
                receiver_type=receiver_type,
                receiver=body.get("ebarimt_receiver"),
                amount=payment.amount,
                family=family,
                lottery=_lottery(),
                qr_data="ebarimt:" + secrets.token_hex(40),
            )
            self.receipts[receipt.receipt_id] = receipt
        return _json(receipt.as_json())

    async def _ebarimt_create_v2(self, request: Request) -> Response:
        return await self._ebarimt_create(request, "v2")

    async def _ebarimt_create_v3(self, request: Request) -> Response:
        return await self._ebarimt_create(request, "v3")

    async def _ebarimt_get(self, request: Request) -> Response:
        if self._bearer(request) is None:
            return self._unauthorized()
        receipt = self.receipts.get(request.path_params["barimt_id"])
        if receipt is None:
            return _json(error_body("BARIMT_NOT_FOUND"), 422)
        return _json(receipt.as_json())

    async def _ebarimt_cancel_v2(self, request: Request) -> Response:
        if self._bearer(request) is None:
            return self._unauthorized()
        receipt = self.receipts.get(request.path_params["barimt_id"])
        if receipt is None:
            # The sandbox answers 500 SYSTEM_BUSY here (reference §6).
            return _json(error_body("SYSTEM_BUSY"), 500)
        receipt.status = "CANCELED"
        return _json(receipt.as_json())

    async def _ebarimt_cancel_v3(self, request: Request) -> Response:
        if self._bearer(request) is None:
            return self._unauthorized()
        payment_id = request.path_params["payment_id"]
        found = [r for r in self.receipts.values() if r.payment_id == payment_id]
        if not found:
            return _json(error_body("BARIMT_NOT_FOUND"), 422)
        for receipt in found:
            receipt.status = "CANCELED"
        return _json({})

    # --- /_sim control endpoints ----------------------------------------------

    async def _sim_pay(self, request: Request) -> Response:
        body = await self._body(request) or {}
        try:
            payment_id = self.pay(
                str(body.get("invoice_id")),
                body.get("amount"),
                payment_type="CARD" if body.get("payment_type") == "CARD" else "P2P",
                force=bool(body.get("force", False)),
            )
        except (KeyError, ValueError, InvalidOperation) as error:
            return _json({"error": str(error)}, 400)
        return _json({"payment_id": payment_id})

    async def _sim_fail(self, request: Request) -> Response:
        body = await self._body(request) or {}
        self.fail_next(
            str(body.get("path", "")),
            count=int(body.get("count", 1)),
            status=int(body.get("status", 500)),
            body=body.get("body"),
            method=body.get("method"),
        )
        return _json({"ok": True})

    async def _sim_delay(self, request: Request) -> Response:
        body = await self._body(request) or {}
        self.delay_next(
            str(body.get("path", "")),
            count=int(body.get("count", 1)),
            seconds=float(body.get("seconds", 1)),
            method=body.get("method"),
        )
        return _json({"ok": True})

    async def _sim_expire(self, _: Request) -> Response:
        self.expire_tokens()
        return _json({"ok": True})

    async def _sim_callbacks(self, request: Request) -> Response:
        body = await self._body(request) or {}
        self.set_callbacks(drop=body.get("drop"), duplicate=body.get("duplicate"))
        return _json(
            {"drop": self.drop_callbacks, "duplicate": self.duplicate_callbacks}
        )

    async def _sim_row_shape(self, request: Request) -> Response:
        body = await self._body(request) or {}
        if body.get("shape") not in ("documented", "live"):
            return _json({"error": "shape must be documented or live"}, 400)
        self.row_shape = body["shape"]
        return _json({"shape": self.row_shape})

    async def _sim_requests(self, _: Request) -> Response:
        return _json(self.requests)

    async def _sim_reset(self, _: Request) -> Response:
        self.reset()
        return _json({"ok": True})


class _Gate:
    """ASGI middleware: logs every /v2 request and applies injected faults."""

    def __init__(self, app: Starlette, simulator: QPaySimulator) -> None:
        self.app = app
        self.simulator = simulator
        self.router = app.router

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or "/v2/" not in scope["path"]:
            await self.app(scope, receive, send)
            return
        path = scope["path"][scope["path"].index("/v2/") :]
        method = scope["method"]
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self._log(method, path, scope, body)
        for fault in self.simulator.faults:
            if fault.matches(method, path):
                fault.remaining -= 1
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                    break
                await _fault_response(fault)(scope, receive, send)
                return
        self.simulator.faults = [f for f in self.simulator.faults if f.remaining > 0]
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _log(self, method: str, path: str, scope: Any, body: bytes) -> None:
        with contextlib.suppress(ValueError):
            parsed: Any = json.loads(body) if body.strip() else None
        query = scope.get("query_string", b"").decode()
        self.simulator.requests.append(
            {
                "method": method,
                "path": path,
                "query": query,
                "json": parsed if body.strip() else None,
                "time": time.time(),
            }
        )


def _fault_response(fault: Fault) -> Response:
    if isinstance(fault.body, dict | list):
        return JSONResponse(fault.body, status_code=fault.status)
    text = "" if fault.body is None else str(fault.body)
    if fault.status >= 500 and fault.body is None:
        return _json(error_body("SYSTEM_BUSY"), fault.status)
    return PlainTextResponse(text, status_code=fault.status)


def _append_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(extra.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _lottery() -> str:
    letters = "ABCDEFGHKLMN"
    prefix = secrets.choice(letters) + secrets.choice(letters)
    return f"{prefix} {secrets.randbelow(10**8):08d}"
