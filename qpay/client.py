"""QPayClient: QPay merchant API v2 over one shared httpx.AsyncClient.

Tokens (qpay/tokens.py, reference/qpay-v2.md §3): POST /auth/token with HTTP
Basic gives a bearer whose `expires_in` is an absolute epoch. One login runs
at a time (single flight); about five minutes before expiry the token is
renewed with /auth/refresh, falling back to /auth/token. A 401 on any call
(NO_CREDENDIALS, NO_CREDENTIALS, ...) means QPay did not process it, so the
client logs in again once (unless someone already replaced that token) and
replays the call once; a second 401 raises QPayAuthError.

Retries: reads (GET calls, payment/check, payment/list) are retried on
connection errors, timeouts and 5xx, with exponential backoff and full jitter.
Invoice create and cancel, payment cancel and refund, e-Barimt create and
cancel are never retried: they raise QPayUnavailable whose `may_have_reached`
says whether QPay may have processed them (reference §14).

`observer(endpoint, outcome, seconds)` is called once per HTTP attempt, with
outcome one of ok, http_4xx, http_5xx, auth_401, timeout, connect_error,
transport_error, malformed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal, TypeVar
from urllib.parse import quote

import httpx

from qpay.errors import QPayAuthError, QPayUnavailable, parse_error_body
from qpay.exchange import Failure, backoff_delay, make_http_client, read_answer, send
from qpay.schemas import (
    AnswerT,
    CheckPageAnswer,
    CheckRowAnswer,
    InvoiceAnswer,
    InvoiceCreatedAnswer,
    JsonDict,
    ListRowAnswer,
    PaymentAnswer,
    PaymentListAnswer,
    ReceiptAnswer,
    RowProblem,
    encode_body,
    parse_answer,
    split_rows,
)
from qpay.tokens import Token, TokenKeeper

__all__ = [
    "PaymentCheckResult",
    "PaymentListResult",
    "QPayClient",
    "longest_call_seconds",
    "make_http_client",
]

logger = logging.getLogger(__name__)

MAX_PAGE_LIMIT = 100
MAX_CHECK_PAGES = 100
# A call that is never retried (invoice create) can still make five HTTP
# exchanges: the token's refresh and, when that fails, a login; the call; and
# after a 401, a login and the call once more.
EXCHANGES_IN_ONE_CALL = 5


def longest_call_seconds(connect_timeout: float, read_timeout: float) -> float:
    """The most one never-retried call can take before it fails: each exchange
    may wait for a pooled connection and for a new one (`connect_timeout`
    each, make_http_client) and then for the answer (`read_timeout`)."""
    return EXCHANGES_IN_ONE_CALL * (2 * connect_timeout + read_timeout)


Observer = Callable[[str, str, float], None]
ReceiverType = Literal["CITIZEN", "COMPANY"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PaymentCheckResult:
    """payment/check of one invoice, every page merged; `pages` are QPay's JSON.
    `problems` are the rows that could not be read (see schemas.split_rows)."""

    count: int
    paid_amount: Decimal | None
    rows: tuple[CheckRowAnswer, ...]
    pages: tuple[JsonDict, ...]
    problems: tuple[RowProblem, ...] = ()


@dataclass(frozen=True, slots=True)
class PaymentListResult:
    """One page of payment/list; `count` is QPay's total over all pages and
    `problems` the rows that could not be read (see schemas.split_rows)."""

    count: int
    rows: tuple[ListRowAnswer, ...]
    problems: tuple[RowProblem, ...]
    raw: JsonDict


def _segment(value: str) -> str:
    """An id as one URL path segment (an id never adds a path or a query)."""
    if not value:
        raise ValueError("id must not be empty")
    return quote(value, safe="")


class QPayClient:
    """Calls QPay; raises only the qpay.errors hierarchy (and ValueError for
    arguments that can never be valid)."""

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
        on_check: Callable[[], None] | None = None,
    ) -> None:
        self._http = http
        self._client_id = client_id
        self._read_retries = max(0, read_retries)
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._observer = observer
        # Told of every payment/check attempt (QPAY_MAX_CHECKS_PER_SECOND).
        self._on_check = on_check
        self._tokens = TokenKeeper(
            http,
            client_id=client_id,
            client_secret=client_secret,
            now=now,
            observe=self._observe,
        )

    def __repr__(self) -> str:
        return (
            f"QPayClient(base_url={str(self._http.base_url)!r}, "
            f"client_id={self._client_id!r})"
        )

    def _observe(self, endpoint: str, outcome: str, seconds: float) -> None:
        if self._observer is not None:
            self._observer(endpoint, outcome, seconds)

    async def _token_for_call(self) -> Token:
        """The current token; a failure here means the call was never sent."""
        try:
            return await self._tokens.current()
        except QPayUnavailable as error:
            failed = error
        raise QPayUnavailable(
            f"could not get a QPay token: {failed.message}",
            may_have_reached=False,
            code=failed.code,
            status=failed.status,
        )

    async def _relogin(self, rejected: Token) -> None:
        try:
            await self._tokens.relogin(rejected)
        except QPayUnavailable as error:
            failed = error
        else:
            return
        # The call itself got a 401, so QPay did not process it.
        raise QPayUnavailable(
            f"could not log in to QPay again: {failed.message}",
            may_have_reached=False,
            code=failed.code,
            status=failed.status,
        )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        parse: Callable[[object], T],
        body: Mapping[str, object] | None = None,
        read: bool,
    ) -> T:
        """One logical call: token, one re-login and replay on 401, bounded
        retries of reads, every error mapped to the qpay.errors hierarchy."""
        content = None if body is None else encode_body(body)
        retries = self._read_retries if read else 0
        attempt = 0
        replayed = False
        while True:
            token = await self._token_for_call()
            if endpoint == "payment_check" and self._on_check is not None:
                self._on_check()
            started = time.perf_counter()
            response = await send(
                self._http, method, path, f"Bearer {token.access}", content
            )
            if isinstance(response, httpx.Response) and response.status_code == 401:
                self._observe(endpoint, "auth_401", time.perf_counter() - started)
                if replayed:
                    rejected = parse_error_body(response.content)
                    raise QPayAuthError(
                        f"QPay refused a fresh token on {endpoint}: "
                        f"{rejected.code or rejected.message}",
                        code=rejected.code,
                        status=401,
                    )
                # A 401 was not processed, so replaying even a POST is safe.
                replayed = True
                logger.info("QPay %s answered 401; logging in again", endpoint)
                await self._relogin(token)
                continue
            result = (
                response
                if isinstance(response, Failure)
                else read_answer(response, endpoint, parse)
            )
            elapsed = time.perf_counter() - started
            if not isinstance(result, Failure):
                self._observe(endpoint, "ok", elapsed)
                return result
            self._observe(endpoint, result.outcome, elapsed)
            if not (result.retryable and attempt < retries):
                raise result.error
            attempt += 1
            delay = backoff_delay(attempt, self._backoff_base, self._backoff_max)
            logger.warning(
                "QPay %s failed (%s); retry %s in %.2fs",
                endpoint,
                result.outcome,
                attempt,
                delay,
            )
            await asyncio.sleep(delay)

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
        lines: Sequence[Mapping[str, object]] | None = None,
    ) -> InvoiceCreatedAnswer:
        """POST /invoice (simple form, optional lines). Never retried."""
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
            raise ValueError("amount must be a positive, finite Decimal")
        body: dict[str, object] = {
            "invoice_code": invoice_code,
            "sender_invoice_no": sender_invoice_no,
            "invoice_receiver_code": invoice_receiver_code,
            "invoice_description": invoice_description,
            "amount": amount,
            "callback_url": callback_url,
        }
        if sender_branch_code is not None:
            body["sender_branch_code"] = sender_branch_code
        if lines is not None:
            body["lines"] = [dict(line) for line in lines]
        answer = await self._call(
            "POST",
            "/invoice",
            endpoint="invoice_create",
            body=body,
            parse=_parser(InvoiceCreatedAnswer, "invoice"),
            read=False,
        )
        logger.info(
            "QPay invoice %s created for %s", answer.invoice_id, sender_invoice_no
        )
        return answer

    async def get_invoice(self, invoice_id: str) -> InvoiceAnswer:
        """GET /invoice/{id}."""
        return await self._call(
            "GET",
            f"/invoice/{_segment(invoice_id)}",
            endpoint="invoice_get",
            parse=_parser(InvoiceAnswer, "invoice"),
            read=True,
        )

    async def cancel_invoice(self, invoice_id: str) -> JsonDict:
        """DELETE /invoice/{id}; QPay answers `{}`. Never retried."""
        return await self._call(
            "DELETE",
            f"/invoice/{_segment(invoice_id)}",
            endpoint="invoice_cancel",
            parse=_object("invoice cancel"),
            read=False,
        )

    # --- payments -----------------------------------------------------------

    async def check_payment(
        self, invoice_id: str, page_limit: int = MAX_PAGE_LIMIT
    ) -> PaymentCheckResult:
        """POST /payment/check for a QPay invoice, following every page."""
        if not 1 <= page_limit <= MAX_PAGE_LIMIT:
            raise ValueError("page_limit must be within 1..100")
        parse = _parser(CheckPageAnswer, "payment check")
        rows: list[CheckRowAnswer] = []
        problems: list[RowProblem] = []
        pages: list[JsonDict] = []
        page_number = 1
        while True:
            page = await self._call(
                "POST",
                "/payment/check",
                endpoint="payment_check",
                body={
                    "object_type": "INVOICE",
                    "object_id": invoice_id,
                    "offset": {"page_number": page_number, "page_limit": page_limit},
                },
                parse=parse,
                read=True,
            )
            pages.append(page.raw)
            parsed, unreadable = split_rows(page.rows, CheckRowAnswer)
            rows.extend(parsed)
            problems.extend(unreadable)
            if not page.rows or len(rows) + len(problems) >= page.count:
                return PaymentCheckResult(
                    page.count,
                    page.paid_amount,
                    tuple(rows),
                    tuple(pages),
                    tuple(problems),
                )
            if page_number >= MAX_CHECK_PAGES:
                raise QPayUnavailable(
                    f"QPay payment/check claims {page.count} rows; stopped after "
                    f"{page_number} pages",
                    may_have_reached=True,
                )
            page_number += 1

    async def get_payment(self, payment_id: str) -> PaymentAnswer:
        """GET /payment/{id}."""
        return await self._call(
            "GET",
            f"/payment/{_segment(payment_id)}",
            endpoint="payment_get",
            parse=_parser(PaymentAnswer, "payment"),
            read=True,
        )

    async def cancel_payment(
        self, payment_id: str, note: str, callback_url: str | None = None
    ) -> JsonDict:
        """DELETE /payment/cancel/{id} with a JSON body (CARD only). Never retried."""
        return await self._card_reversal(
            "cancel", payment_id, note=note, callback_url=callback_url
        )

    async def refund_payment(
        self, payment_id: str, note: str, callback_url: str | None = None
    ) -> JsonDict:
        """DELETE /payment/refund/{id} with a JSON body (CARD only). Never retried."""
        return await self._card_reversal(
            "refund", payment_id, note=note, callback_url=callback_url
        )

    async def _card_reversal(
        self,
        kind: Literal["cancel", "refund"],
        payment_id: str,
        *,
        note: str,
        callback_url: str | None,
    ) -> JsonDict:
        body: dict[str, object] = {"note": note}
        if callback_url is not None:
            body["callback_url"] = callback_url
        result = await self._call(
            "DELETE",
            f"/payment/{kind}/{_segment(payment_id)}",
            endpoint=f"payment_{kind}",
            body=body,
            parse=_object(f"payment {kind}"),
            read=False,
        )
        logger.info("QPay payment %s: %s done", payment_id, kind)
        return result

    async def list_payments(
        self,
        *,
        object_type: Literal["INVOICE", "MERCHANT", "QR"],
        object_id: str,
        start_date: datetime | str,
        end_date: datetime | str,
        page_number: int = 1,
        page_limit: int = MAX_PAGE_LIMIT,
    ) -> PaymentListResult:
        """POST /payment/list (one page). For INVOICE, `object_id` is the
        invoice_code; for MERCHANT, the merchant id (reference §5.3). Aware
        datetimes are sent as UTC; QPay 500s on pages over 100 rows."""
        if page_number < 1 or not 1 <= page_limit <= MAX_PAGE_LIMIT:
            raise ValueError("page_number must be >= 1, page_limit within 1..100")
        page = await self._call(
            "POST",
            "/payment/list",
            endpoint="payment_list",
            body={
                "object_type": object_type,
                "object_id": object_id,
                "start_date": _list_date(start_date),
                "end_date": _list_date(end_date),
                "offset": {"page_number": page_number, "page_limit": page_limit},
            },
            parse=_parser(PaymentListAnswer, "payment list"),
            read=True,
        )
        rows, problems = split_rows(page.rows, ListRowAnswer)
        return PaymentListResult(page.count, tuple(rows), tuple(problems), page.raw)

    # --- e-Barimt -------------------------------------------------------------

    async def create_ebarimt(
        self, payment_id: str, receiver_type: ReceiverType, receiver: str | None = None
    ) -> ReceiptAnswer:
        """POST /ebarimt/create (v2 family). Never retried."""
        return await self._create_receipt(
            "/ebarimt/create", "ebarimt_create", payment_id, receiver_type, receiver
        )

    async def get_ebarimt(self, barimt_id: str) -> ReceiptAnswer:
        """GET /ebarimt/{id} (v2 family; e-Barimt 3.0 has no get)."""
        return await self._call(
            "GET",
            f"/ebarimt/{_segment(barimt_id)}",
            endpoint="ebarimt_get",
            parse=_parser(ReceiptAnswer, "e-Barimt receipt"),
            read=True,
        )

    async def cancel_ebarimt(self, barimt_id: str) -> JsonDict:
        """DELETE /ebarimt/{id} (v2 family, by receipt id). Never retried."""
        return await self._call(
            "DELETE",
            f"/ebarimt/{_segment(barimt_id)}",
            endpoint="ebarimt_cancel",
            parse=_object("e-Barimt cancel"),
            read=False,
        )

    async def create_ebarimt_v3(
        self, payment_id: str, receiver_type: ReceiverType, receiver: str | None = None
    ) -> ReceiptAnswer:
        """POST /ebarimt_v3/create (e-Barimt 3.0). Never retried."""
        return await self._create_receipt(
            "/ebarimt_v3/create",
            "ebarimt_v3_create",
            payment_id,
            receiver_type,
            receiver,
        )

    async def cancel_ebarimt_v3(self, payment_id: str) -> JsonDict:
        """DELETE /ebarimt_v3/{payment_id} (e-Barimt 3.0, by payment id)."""
        return await self._call(
            "DELETE",
            f"/ebarimt_v3/{_segment(payment_id)}",
            endpoint="ebarimt_v3_cancel",
            parse=_object("e-Barimt cancel"),
            read=False,
        )

    async def _create_receipt(
        self,
        path: str,
        endpoint: str,
        payment_id: str,
        receiver_type: ReceiverType,
        receiver: str | None,
    ) -> ReceiptAnswer:
        body: dict[str, object] = {
            "payment_id": payment_id,
            "ebarimt_receiver_type": receiver_type,
        }
        if receiver:
            body["ebarimt_receiver"] = receiver
        answer = await self._call(
            "POST",
            path,
            endpoint=endpoint,
            body=body,
            parse=_parser(ReceiptAnswer, "e-Barimt receipt"),
            read=False,
        )
        logger.info("QPay e-Barimt %s issued for payment %s", answer.id, payment_id)
        return answer


def _parser(model: type[AnswerT], what: str) -> Callable[[object], AnswerT]:
    def parse(data: object) -> AnswerT:
        return parse_answer(model, data, what=what)

    return parse


def _object(what: str) -> Callable[[object], JsonDict]:
    def parse(data: object) -> JsonDict:
        if not isinstance(data, dict):
            raise QPayUnavailable(
                f"QPay answered a malformed {what} (not a JSON object)",
                may_have_reached=True,
            )
        return data

    return parse


def _list_date(value: datetime | str) -> str:
    """payment/list wants "YYYY-MM-DD HH:mm:ss" (timezone unspecified): an
    aware datetime is written in UTC, a naive one as it is."""
    if isinstance(value, str):
        return value
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")
