"""QPayClient: QPay merchant API v2 over one shared httpx.AsyncClient.

Tokens: POST /auth/token with Basic auth; `expires_in` is an absolute epoch.
One login at a time (single flight), renewed 5 minutes before expiry with
/auth/refresh first and /auth/token when that fails. Any 401 on a call
re-logs in once and replays the call once (a 401 was not processed, so even
a POST is safe to replay); a second 401 raises QPayAuthError.

Retries: reads (GET, payment/check, payment/list) retry on connection errors,
timeouts and 5xx with exponential backoff and full jitter. Invoice create and
cancel, payment cancel and refund, e-Barimt create and cancel are never
retried: they raise QPayUnavailable saying whether QPay may have got them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import httpx

from qpay.errors import (
    NOT_FOUND_CODES,
    QPayAuthError,
    QPayError,
    QPayNotFound,
    QPayRejected,
    QPayUnavailable,
    parse_error_body,
)
from qpay.schemas import (
    InvoiceAnswer,
    InvoiceCreatedAnswer,
    PaymentAnswer,
    PaymentCheckPage,
    PaymentListAnswer,
    PaymentRowAnswer,
    ReceiptAnswer,
    TokenAnswer,
    amount_json,
    read,
)

logger = logging.getLogger(__name__)

RENEW_BEFORE_SECONDS = 300.0
MAX_PAGE_LIMIT = 100
Observer = Callable[[str, str, float], None]
EbarimtFamily = Literal["v2", "v3"]


def make_http_client(
    base_url: str,
    *,
    connect_timeout: float = 5.0,
    read_timeout: float = 10.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The one AsyncClient a process shares for QPay."""
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/") + "/",
        timeout=httpx.Timeout(
            read_timeout, connect=connect_timeout, pool=connect_timeout
        ),
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        transport=transport,
        headers={"Accept": "application/json"},
    )


@dataclass(frozen=True)
class _Token:
    access: str = field(repr=False)
    refresh: str | None = field(repr=False)
    expires_at: float
    refresh_expires_at: float

    def fresh(self, now: float) -> bool:
        return self.expires_at - RENEW_BEFORE_SECONDS > now


@dataclass(frozen=True)
class PaymentCheckResult:
    """payment/check for one invoice, every page merged."""

    count: int
    paid_amount: Decimal | None
    rows: tuple[PaymentRowAnswer, ...]
    pages: tuple[dict[str, Any], ...]


class QPayClient:
    """Calls QPay; raises only the qpay.errors hierarchy."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        client_id: str,
        client_secret: str,
        now: Callable[[], float] = time.time,
        read_retries: int = 3,
        backoff_base: float = 0.2,
        backoff_max: float = 2.0,
        observer: Observer | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._http = http
        self._client_id = client_id
        self._client_secret = client_secret
        self._now = now
        self._read_retries = read_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._observer = observer
        self._sleep = sleep
        self._token: _Token | None = None
        self._lock = asyncio.Lock()
        self.logins = 0

    def __repr__(self) -> str:
        base = str(self._http.base_url)
        return f"QPayClient(base_url={base!r}, client_id={self._client_id!r})"

    # --- tokens -------------------------------------------------------------

    async def _access_token(self) -> str:
        token = self._token
        if token is not None and token.fresh(self._now()):
            return token.access
        async with self._lock:
            token = self._token
            if token is not None and token.fresh(self._now()):
                return token.access  # another caller renewed it while we waited
            self._token = await self._renew(token)
            return self._token.access

    async def _renew(self, old: _Token | None) -> _Token:
        if old is not None and old.refresh and old.refresh_expires_at > self._now():
            try:
                return await self._token_call("auth/refresh", bearer=old.refresh)
            except QPayError as error:
                logger.info("QPay token refresh failed (%s); logging in", error.code)
        return await self._token_call("auth/token", bearer=None)

    async def _relogin(self, rejected: str) -> None:
        async with self._lock:
            if self._token is not None and self._token.access != rejected:
                return  # someone already replaced the rejected token
            self._token = await self._token_call("auth/token", bearer=None)

    async def _token_call(self, path: str, *, bearer: str | None) -> _Token:
        endpoint = "auth_refresh" if bearer else "auth_token"
        if bearer is None:
            self.logins += 1
            auth: httpx.Auth | None = httpx.BasicAuth(
                self._client_id, self._client_secret
            )
            headers = {}
        else:
            auth, headers = None, {"Authorization": f"Bearer {bearer}"}
        response = await self._send(
            "POST", path, endpoint=endpoint, auth=auth, headers=headers, body=None
        )
        if response.status_code >= 500:
            code, message = parse_error_body(response.text)
            raise QPayUnavailable(
                f"QPay login failed with {response.status_code}: {message}",
                may_have_reached=False,
                code=code,
                status=response.status_code,
            )
        if response.status_code >= 400:
            code, message = parse_error_body(response.text)
            raise QPayAuthError(
                f"QPay refused the login: {message}",
                code=code,
                status=response.status_code,
            )
        data = self._json(response, endpoint, may_have_reached=False)
        answer = read(TokenAnswer, data, what="token")
        return _Token(
            access=answer.access_token,
            refresh=answer.refresh_token,
            expires_at=answer.expires_in,
            refresh_expires_at=answer.refresh_expires_in or answer.expires_in,
        )

    # --- transport ----------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        body: dict[str, Any] | None,
        auth: httpx.Auth | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        started = time.perf_counter()
        outcome = "ok"
        try:
            content = None if body is None else json.dumps(body, ensure_ascii=False)
            request_headers = dict(headers or {})
            if content is not None:
                request_headers["Content-Type"] = "application/json"
            request = self._http.build_request(
                method, path, content=content, headers=request_headers
            )
            response = await self._http.send(request, auth=auth)
            if response.status_code == 401:
                outcome = "auth_401"
            elif response.status_code >= 500:
                outcome = "http_5xx"
            elif response.status_code >= 400:
                outcome = "http_4xx"
            return response
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            outcome = "connect_error"
            raise QPayUnavailable(
                f"could not connect to QPay ({type(error).__name__})",
                may_have_reached=False,
            ) from None
        except httpx.TimeoutException as error:
            outcome = "timeout"
            raise QPayUnavailable(
                f"QPay did not answer in time ({type(error).__name__})",
                may_have_reached=True,
            ) from None
        except httpx.HTTPError as error:
            outcome = "transport_error"
            raise QPayUnavailable(
                f"QPay connection failed ({type(error).__name__})",
                may_have_reached=True,
            ) from None
        finally:
            if self._observer is not None:
                self._observer(endpoint, outcome, time.perf_counter() - started)

    def _json(
        self, response: httpx.Response, endpoint: str, *, may_have_reached: bool
    ) -> Any:
        if not response.content.strip():
            return {}
        try:
            return response.json()
        except ValueError:
            if self._observer is not None:
                self._observer(endpoint, "malformed", 0.0)
            raise QPayUnavailable(
                f"QPay answered non-JSON ({response.text[:80]!r})",
                may_have_reached=may_have_reached,
                status=response.status_code,
            ) from None

    async def _call(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        body: dict[str, Any] | None = None,
        retry: bool,
    ) -> Any:
        """One logical call: token, 401 re-login and one replay, bounded retries
        of reads, errors mapped to the hierarchy; returns the parsed JSON."""
        attempt = 0
        replayed = False
        while True:
            token = await self._access_token()
            try:
                response = await self._send(
                    method,
                    path,
                    endpoint=endpoint,
                    body=body,
                    headers={"Authorization": f"Bearer {token}"},
                )
                if response.status_code == 401:
                    if replayed:
                        code, message = parse_error_body(response.text)
                        raise QPayAuthError(
                            f"QPay refused a fresh token: {message}",
                            code=code,
                            status=401,
                        )
                    replayed = True
                    await self._relogin(token)
                    continue
                if response.status_code >= 500:
                    code, message = parse_error_body(response.text)
                    raise QPayUnavailable(
                        f"QPay error {response.status_code}: {message}",
                        may_have_reached=True,
                        code=code,
                        status=response.status_code,
                    )
                if response.status_code >= 400:
                    code, message = parse_error_body(response.text)
                    kind = QPayNotFound if code in NOT_FOUND_CODES else QPayRejected
                    raise kind(message, code=code, status=response.status_code)
                return self._json(response, endpoint, may_have_reached=True)
            except QPayUnavailable:
                if not retry or attempt >= self._read_retries:
                    raise
                attempt += 1
                ceiling = min(self._backoff_max, self._backoff_base * 2**attempt)
                await self._sleep(random.uniform(0, ceiling))  # noqa: S311  # jitter

    # --- invoices -----------------------------------------------------------

    async def create_invoice(
        self,
        *,
        invoice_code: str,
        sender_invoice_no: str,
        invoice_receiver_code: str,
        invoice_description: str,
        amount: Decimal,
        callback_url: str,
        sender_branch_code: str | None = None,
        lines: list[dict[str, Any]] | None = None,
    ) -> InvoiceCreatedAnswer:
        body: dict[str, Any] = {
            "invoice_code": invoice_code,
            "sender_invoice_no": sender_invoice_no,
            "invoice_receiver_code": invoice_receiver_code,
            "invoice_description": invoice_description,
            "amount": amount_json(amount),
            "callback_url": callback_url,
        }
        if sender_branch_code is not None:
            body["sender_branch_code"] = sender_branch_code
        if lines is not None:
            body["lines"] = lines
        data = await self._call(
            "POST", "invoice", endpoint="invoice_create", body=body, retry=False
        )
        return read(InvoiceCreatedAnswer, data, what="invoice")

    async def get_invoice(self, invoice_id: str) -> InvoiceAnswer:
        data = await self._call(
            "GET", f"invoice/{invoice_id}", endpoint="invoice_get", retry=True
        )
        return read(InvoiceAnswer, data, what="invoice")

    async def cancel_invoice(self, invoice_id: str) -> dict[str, Any]:
        data = await self._call(
            "DELETE", f"invoice/{invoice_id}", endpoint="invoice_cancel", retry=False
        )
        return data if isinstance(data, dict) else {}

    # --- payments -----------------------------------------------------------

    async def check_payment(
        self, invoice_id: str, *, page_limit: int = MAX_PAGE_LIMIT
    ) -> PaymentCheckResult:
        """Every page of payment/check for a QPay invoice."""
        if not 1 <= page_limit <= MAX_PAGE_LIMIT:
            raise ValueError("page_limit must be within 1..100")
        rows: list[PaymentRowAnswer] = []
        pages: list[dict[str, Any]] = []
        page_number = 1
        while True:
            data = await self._call(
                "POST",
                "payment/check",
                endpoint="payment_check",
                body={
                    "object_type": "INVOICE",
                    "object_id": invoice_id,
                    "offset": {"page_number": page_number, "page_limit": page_limit},
                },
                retry=True,
            )
            page = read(PaymentCheckPage, data, what="payment check")
            pages.append(data if isinstance(data, dict) else {})
            rows.extend(page.rows)
            if not page.rows or len(rows) >= page.count or page_number >= 50:
                return PaymentCheckResult(
                    page.count, page.paid_amount, tuple(rows), tuple(pages)
                )
            page_number += 1

    async def get_payment(self, payment_id: str) -> PaymentAnswer:
        data = await self._call(
            "GET", f"payment/{payment_id}", endpoint="payment_get", retry=True
        )
        return read(PaymentAnswer, data, what="payment")

    async def cancel_payment(
        self, payment_id: str, *, note: str, callback_url: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"note": note}
        if callback_url is not None:
            body["callback_url"] = callback_url
        data = await self._call(
            "DELETE",
            f"payment/cancel/{payment_id}",
            endpoint="payment_cancel",
            body=body,
            retry=False,
        )
        return data if isinstance(data, dict) else {}

    async def refund_payment(
        self, payment_id: str, *, note: str, callback_url: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"note": note}
        if callback_url is not None:
            body["callback_url"] = callback_url
        data = await self._call(
            "DELETE",
            f"payment/refund/{payment_id}",
            endpoint="payment_refund",
            body=body,
            retry=False,
        )
        return data if isinstance(data, dict) else {}

    async def list_payments(
        self,
        *,
        object_type: str,
        object_id: str,
        start_date: str,
        end_date: str,
        page_number: int = 1,
        page_limit: int = MAX_PAGE_LIMIT,
    ) -> PaymentListAnswer:
        if not 1 <= page_limit <= MAX_PAGE_LIMIT or page_number < 1:
            raise ValueError("page_number >= 1 and page_limit within 1..100")
        data = await self._call(
            "POST",
            "payment/list",
            endpoint="payment_list",
            body={
                "object_type": object_type,
                "object_id": object_id,
                "start_date": start_date,
                "end_date": end_date,
                "offset": {"page_number": page_number, "page_limit": page_limit},
            },
            retry=True,
        )
        return read(PaymentListAnswer, data, what="payment list")

    # --- e-Barimt -------------------------------------------------------------

    async def create_ebarimt(
        self,
        *,
        payment_id: str,
        receiver_type: str,
        receiver: str | None = None,
        family: EbarimtFamily = "v2",
    ) -> ReceiptAnswer:
        body: dict[str, Any] = {
            "payment_id": payment_id,
            "ebarimt_receiver_type": receiver_type,
        }
        if receiver:
            body["ebarimt_receiver"] = receiver
        path = "ebarimt/create" if family == "v2" else "ebarimt_v3/create"
        data = await self._call(
            "POST", path, endpoint=f"ebarimt_{family}_create", body=body, retry=False
        )
        return read(ReceiptAnswer, data, what="e-Barimt receipt")

    async def get_ebarimt(self, barimt_id: str) -> ReceiptAnswer:
        """v2 only: the v3 family has no get."""
        data = await self._call(
            "GET", f"ebarimt/{barimt_id}", endpoint="ebarimt_v2_get", retry=True
        )
        return read(ReceiptAnswer, data, what="e-Barimt receipt")

    async def cancel_ebarimt(
        self, key: str, *, family: EbarimtFamily = "v2"
    ) -> dict[str, Any]:
        """v2 cancels by receipt id, v3 by payment id."""
        path = f"ebarimt/{key}" if family == "v2" else f"ebarimt_v3/{key}"
        data = await self._call(
            "DELETE", path, endpoint=f"ebarimt_{family}_cancel", retry=False
        )
        return data if isinstance(data, dict) else {}
