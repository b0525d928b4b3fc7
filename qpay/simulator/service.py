"""QPaySimulator: the Starlette app, its control endpoints, the callbacks it sends."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, get_args
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from qpay.simulator.api import QPayApi, read_json
from qpay.simulator.checks import answer, control_flag, payment_amount, utc_offset
from qpay.simulator.gate import SimGate
from qpay.simulator.state import (
    Fault,
    JsonObject,
    PaymentType,
    RowShape,
    SimPayment,
    SimReceipt,
    SimState,
    new_payment_id,
    v2_path,
)

__all__ = ["QPaySimulator", "create_simulator_app"]

logger = logging.getLogger(__name__)

SANDBOX_CLIENT_ID = "TEST_MERCHANT"
SANDBOX_CLIENT_SECRET = "123456"  # noqa: S105  # QPay's published sandbox login
REQUEST_LOG_LIMIT = 100_000


def append_query(url: str, name: str, value: str) -> str:
    """`url` with name=value added to whatever query it already has."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), (name, value)]
    return urlunsplit(parts._replace(query=urlencode(query)))


class QPaySimulator:
    """A QPay v2 fake with scenario controls; state is per instance."""

    def __init__(
        self,
        *,
        client_id: str = SANDBOX_CLIENT_ID,
        client_secret: str = SANDBOX_CLIENT_SECRET,
        invoice_codes: Iterable[str] = ("TEST_INVOICE",),
        token_ttl_seconds: int = 86400,
        row_shape: RowShape = "live",
        list_utc_offset_hours: float = 0.0,
        callback_http: httpx.AsyncClient | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.invoice_codes = frozenset(invoice_codes)
        self.token_ttl_seconds = token_ttl_seconds
        self.row_shape: RowShape = row_shape
        self.list_utc_offset_hours = 0.0
        self.set_list_utc_offset(list_utc_offset_hours)
        self._now = now
        self._callback_http = callback_http
        self._owns_callback_http = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.state = SimState()
        self.callbacks_sent: list[JsonObject] = []
        self.drop_callbacks = False
        self.duplicate_callbacks = 1
        self._app = self._build_app()

    def __repr__(self) -> str:
        return (
            f"QPaySimulator(client_id={self.client_id!r}, "
            f"invoices={len(self.state.invoices)}, row_shape={self.row_shape!r})"
        )

    @property
    def app(self) -> Starlette:
        """The ASGI app: QPay under /v2, controls under /_sim."""
        return self._app

    @property
    def requests(self) -> list[JsonObject]:
        """Every /v2 request received: method, path, query, json, auth, time."""
        return self.state.requests

    def clock(self) -> float:
        """QPay's clock (token expiry, payment dates)."""
        return self._now()

    # --- scenario controls --------------------------------------------------

    def pay(
        self,
        invoice_id: str,
        amount: Decimal | str | int | None = None,
        *,
        payment_type: PaymentType = "P2P",
        force: bool = False,
        currency: str = "MNT",
        payment_id: str | None = None,
        raw_amount: str | None = None,
    ) -> str:
        """A patient pays (all, part or more than the amount): returns QPay's
        payment id and sends the callback in the background. Raises KeyError
        for an unknown invoice, ValueError for a cancelled or closed one (unless
        `force`, modelling a payment that raced a cancel), a bad amount or a
        payment id already taken.

        `currency`, `payment_id` and `raw_amount` write arbitrary data into the
        rows, to see how our client copes with malformed ones: `raw_amount` is
        the `payment_amount` text, verbatim and unchecked; without `amount` it
        counts as its value, or 0 when it is not a number. A payment worth 0
        never closes the invoice."""
        state = self.state
        invoice = state.invoices.get(invoice_id)
        if invoice is None:
            raise KeyError(f"unknown invoice {invoice_id}")
        if invoice.status != "OPEN" and not force:
            raise ValueError(f"invoice is {invoice.status} (force=True pays anyway)")
        if payment_type not in get_args(PaymentType):
            raise ValueError("payment_type must be P2P or CARD")
        if payment_id is not None and payment_id in state.payments:
            raise ValueError(f"payment id {payment_id!r} is taken")
        payment = SimPayment(
            payment_id=new_payment_id(payment_type)
            if payment_id is None
            else payment_id,
            invoice_id=invoice_id,
            amount=payment_amount(invoice.amount, amount, raw_amount),
            payment_type=payment_type,
            paid_at=self._now(),
            currency=currency,
            raw_amount=raw_amount,
        )
        state.payments[payment.payment_id] = payment
        invoice.payment_ids.append(payment.payment_id)
        closes = payment.amount > 0 and state.paid_total(invoice) >= invoice.amount
        if invoice.status == "OPEN" and closes:
            invoice.status = "CLOSED"
        self._send_callbacks(invoice.callback_url, payment.payment_id)
        return payment.payment_id

    def refund_outside(self, payment_id: str) -> None:
        """The merchant refunds a payment in QPay's merchant portal, outside
        our service: it is REFUNDED whatever its type (the API refunds card
        payments only) and no callback is sent. KeyError for an unknown id."""
        payment = self.state.payments.get(payment_id)
        if payment is None:
            raise KeyError(f"unknown payment {payment_id}")
        payment.status = "REFUNDED"

    def registered_receipts(self, payment_id: str) -> list[SimReceipt]:
        """The payment's REGISTERED e-Barimt receipts, both families, oldest
        first: more than one means the sale was declared twice."""
        return self.state.registered_receipts(payment_id)

    def fail_next(
        self,
        path: str,
        *,
        count: int = 1,
        status: int = 500,
        body: object = None,
        method: str | None = None,
        after: bool = False,
    ) -> None:
        """The next `count` calls of `path` answer `status` with `body` (a
        JSON object or list, or raw text; None: QPay's usual error body).
        With `after`, QPay processes each call first and the failure replaces
        its answer (a create that reached QPay but came back 502)."""
        if count < 1 or not 100 <= status <= 599:
            raise ValueError("count must be >= 1 and status an HTTP status")
        pattern = v2_path(path)
        self.state.faults.append(
            Fault(pattern, count, method=method, status=status, body=body, after=after)
        )

    def delay_next(
        self,
        path: str,
        seconds: float,
        *,
        count: int = 1,
        method: str | None = None,
        after: bool = False,
    ) -> None:
        """The next `count` calls of `path` wait `seconds`, then go through.
        With `after`, QPay processes each call first and its answer waits (a
        create that reached QPay but whose answer timed out)."""
        if count < 1 or seconds <= 0:
            raise ValueError("count must be >= 1 and seconds > 0")
        self.state.faults.append(
            Fault(v2_path(path), count, method=method, delay=seconds, after=after)
        )

    def expire_tokens(self) -> None:
        """Every token issued so far (access and refresh) is now expired."""
        expired = self._now() - 1
        for token in self.state.tokens.values():
            token.expires_at = expired

    def set_callbacks(
        self, *, drop: bool | None = None, duplicate: int | None = None
    ) -> None:
        """Drop callbacks, or send each one `duplicate` times."""
        if drop is not None:
            self.drop_callbacks = drop
        if duplicate is not None:
            if duplicate < 1:
                raise ValueError("duplicate must be >= 1")
            self.duplicate_callbacks = duplicate

    def set_row_shape(self, shape: RowShape) -> None:
        if shape not in get_args(RowShape):
            raise ValueError("shape must be documented or live")
        self.row_shape = shape

    def set_list_utc_offset(self, hours: float) -> None:
        """payment/list reads start_date/end_date as local time `hours` east
        of UTC (8: Ulaanbaatar); QPay does not say which zone it uses."""
        utc_offset(hours)  # ValueError unless within ±24 h
        self.list_utc_offset_hours = float(hours)

    def reset(self) -> None:
        """Forget everything: tokens, invoices, payments, receipts, faults,
        logs. The row shape and the list timezone stay."""
        self.state = SimState()
        self.callbacks_sent.clear()
        self.drop_callbacks = False
        self.duplicate_callbacks = 1

    async def wait_callbacks(self) -> None:
        """Wait until every callback sent so far has been delivered (or failed)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel pending callbacks; close the callback client if we made it."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._owns_callback_http and self._callback_http is not None:
            await self._callback_http.aclose()
            self._callback_http = None
            self._owns_callback_http = False

    # --- callbacks ------------------------------------------------------------

    def _send_callbacks(self, callback_url: str, payment_id: str) -> None:
        if self.drop_callbacks:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            logger.warning(
                "no event loop: callback for payment %s not sent", payment_id
            )
            return
        url = append_query(callback_url, "qpay_payment_id", payment_id)
        for _ in range(self.duplicate_callbacks):
            task = loop.create_task(self._deliver(url))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str) -> None:
        if self._callback_http is None:
            self._callback_http = httpx.AsyncClient(timeout=10.0)
            self._owns_callback_http = True
        record: JsonObject = {"url": url, "sent_at": time.time(), "status": None}
        self.callbacks_sent.append(record)
        try:
            response = await self._callback_http.get(url)
        except httpx.HTTPError as error:
            logger.warning("simulated callback failed: %s", type(error).__name__)
            return
        record["status"] = response.status_code

    # --- the app ----------------------------------------------------------------

    def _build_app(self) -> Starlette:
        control = [
            Route("/_sim/pay", self._control_pay, methods=["POST"]),
            Route("/_sim/refund", self._control_refund, methods=["POST"]),
            Route("/_sim/fail", self._control_fail, methods=["POST"]),
            Route("/_sim/delay", self._control_delay, methods=["POST"]),
            Route("/_sim/expire-tokens", self._control_expire, methods=["POST"]),
            Route("/_sim/callbacks", self._control_callbacks, methods=["GET", "POST"]),
            Route("/_sim/row-shape", self._control_row_shape, methods=["POST"]),
            Route("/_sim/list-timezone", self._control_list_tz, methods=["POST"]),
            Route("/_sim/requests", self._control_requests, methods=["GET"]),
            Route("/_sim/reset", self._control_reset, methods=["POST"]),
        ]
        app = Starlette(
            routes=[*QPayApi(self).routes(), *control],
            middleware=[
                Middleware(
                    SimGate, state=lambda: self.state, log_limit=REQUEST_LOG_LIMIT
                )
            ],
            exception_handlers={404: _express_404, 405: _express_404},
        )
        app.state.simulator = self
        return app

    async def _control_body(self, request: Request) -> JsonObject | Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            return answer({"error": "the body must be a JSON object"}, 400)
        return body

    async def _control_pay(self, request: Request) -> Response:
        body = await self._control_body(request)
        if isinstance(body, Response):
            return body
        amount, payment_type = body.get("amount"), body.get("payment_type", "P2P")
        if payment_type not in get_args(PaymentType):
            return answer({"error": "payment_type must be P2P or CARD"}, 400)
        currency = body.get("currency", "MNT")
        payment_id, raw_amount = body.get("payment_id"), body.get("raw_amount")
        if not isinstance(currency, str) or not all(
            isinstance(text, str | None) for text in (payment_id, raw_amount)
        ):
            error = "currency, payment_id and raw_amount must be strings"
            return answer({"error": error}, 400)
        try:
            paid = None if amount is None else Decimal(str(amount))
        except InvalidOperation:
            paid = Decimal("NaN")
        if paid is not None and (not paid.is_finite() or paid <= 0):
            return answer({"error": "amount must be a positive decimal"}, 400)
        try:
            paid_id = self.pay(
                str(body.get("invoice_id", "")),
                paid,
                payment_type=payment_type,
                force=body.get("force") is True,
                currency=currency,
                payment_id=payment_id,
                raw_amount=raw_amount,
            )
        except KeyError as error:
            return answer({"error": str(error.args[0])}, 404)
        except ValueError as error:  # the invoice is not open, the id is taken
            return answer({"error": str(error)}, 409)
        return answer({"payment_id": paid_id})

    async def _control_refund(self, request: Request) -> Response:
        body = await self._control_body(request)
        if isinstance(body, Response):
            return body
        payment_id = str(body.get("payment_id", ""))
        try:
            self.refund_outside(payment_id)
        except KeyError as error:
            return answer({"error": str(error.args[0])}, 404)
        return answer({"payment_id": payment_id, "payment_status": "REFUNDED"})

    async def _control_fail(self, request: Request) -> Response:
        body = await self._control_body(request)
        if isinstance(body, Response):
            return body
        try:
            self.fail_next(
                str(body["path"]),
                count=int(body.get("count", 1)),
                status=int(body.get("status", 500)),
                body=body.get("body"),
                method=body.get("method"),
                after=control_flag(body, "after"),
            )
        except (KeyError, TypeError, ValueError) as error:
            return answer({"error": f"bad fault: {error}"}, 400)
        return answer({"ok": True})

    async def _control_delay(self, request: Request) -> Response:
        body = await self._control_body(request)
        if isinstance(body, Response):
            return body
        try:
            self.delay_next(
                str(body["path"]),
                float(body["seconds"]),
                count=int(body.get("count", 1)),
                method=body.get("method"),
                after=control_flag(body, "after"),
            )
        except (KeyError, TypeError, ValueError) as error:
            return answer({"error": f"bad delay: {error}"}, 400)
        return answer({"ok": True})

    async def _control_expire(self, _: Request) -> Response:
        self.expire_tokens()
        return answer({"ok": True})

    async def _control_callbacks(self, request: Request) -> Response:
        if request.method == "GET":
            return answer(self.callbacks_sent)
        body = await self._control_body(request)
        if isinstance(body, Response):
            return body
        drop, duplicate = body.get("drop"), body.get("duplicate")
        if not isinstance(drop, bool | None) or not isinstance(duplicate, int | None):
            return answer({"error": "drop must be a bool, duplicate an int"}, 400)
        try:
            self.set_callbacks(drop=drop, duplicate=duplicate)
        except ValueError as error:
            return answer({"error": str(error)}, 400)
        return answer(
            {"drop": self.drop_callbacks, "duplicate": self.duplicate_callbacks}
        )

    async def _control_row_shape(self, request: Request) -> Response:
        body = await self._control_body(request)
        if isinstance(body, Response):
            return body
        try:
            self.set_row_shape(body.get("shape"))  # type: ignore[arg-type]  # checked inside
        except ValueError as error:
            return answer({"error": str(error)}, 400)
        return answer({"shape": self.row_shape})

    async def _control_list_tz(self, request: Request) -> Response:
        body = await self._control_body(request)
        if isinstance(body, Response):
            return body
        hours = body.get("utc_offset_hours")
        if isinstance(hours, bool) or not isinstance(hours, int | Decimal):
            return answer({"error": "utc_offset_hours must be a number"}, 400)
        try:
            self.set_list_utc_offset(float(hours))
        except ValueError as error:
            return answer({"error": str(error)}, 400)
        return answer({"utc_offset_hours": self.list_utc_offset_hours})

    async def _control_requests(self, _: Request) -> Response:
        return answer(self.requests)

    async def _control_reset(self, _: Request) -> Response:
        self.reset()
        return answer({"ok": True})


async def _express_404(request: Request, exc: Any) -> Response:
    """QPay runs Express: unknown routes answer its HTML 404 page."""
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    if status not in (404, 405):
        return HTMLResponse("Error", status_code=status)
    text = f"<pre>Cannot {request.method} {request.url.path}</pre>"
    return HTMLResponse(text, status_code=404)


def create_simulator_app(**kwargs: Any) -> Starlette:
    """A new simulator's app; the simulator is `app.state.simulator`."""
    return QPaySimulator(**kwargs).app
