"""One HTTP exchange with QPay, and how its outcome is classified.

`send` never raises an httpx exception: transport errors come back as a
`Failure` (returned, not raised, so the httpx exception, whose request holds
the Authorization header, is not even kept as the error's `__context__`).
`read_answer` turns a response into a parsed answer or a `Failure`. Each
failure carries the observer's outcome label and whether a read may retry it
(a transport error, a 5xx, a 429, or a garbled answer; not a 4xx).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from http.cookiejar import CookieJar
from typing import Any, TypeVar

import httpx

from qpay.errors import (
    NOT_FOUND_CODES,
    QPayError,
    QPayNotFound,
    QPayRejected,
    QPayUnavailable,
    parse_error_body,
)

T = TypeVar("T")

# httpx errors raised before any byte of the request left this process.
_NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.ProxyError,
    httpx.LocalProtocolError,
    httpx.InvalidURL,
)
_HTTPX_ERRORS: tuple[type[Exception], ...] = (
    httpx.HTTPError,
    httpx.InvalidURL,
    httpx.StreamError,
    httpx.CookieConflict,
)


class _NoCookies(CookieJar):
    """QPay's API is bearer-token only: a cookie it sets is neither kept nor
    sent back (and httpx read every answer into its cookie jar: about 1.5%
    of the service's CPU per payment in a py-spy profile)."""

    def extract_cookies(self, response: object, request: object) -> None:
        return None


def make_http_client(
    base_url: str,
    *,
    connect_timeout: float = 5,
    read_timeout: float = 10,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The AsyncClient a process shares for QPay (base URL ends in /v2)."""
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/"),
        timeout=httpx.Timeout(
            read_timeout, connect=connect_timeout, pool=connect_timeout
        ),
        # Idle connections are dropped before a 5 s server keep-alive timeout
        # (uvicorn's and many proxies' default) could close one just as we
        # reuse it: that race fails an invoice create with a ReadError, and a
        # create is never retried because it may have reached QPay.
        limits=httpx.Limits(
            max_connections=50, max_keepalive_connections=20, keepalive_expiry=4.0
        ),
        transport=transport,
        headers={"Accept": "application/json"},
        cookies=_NoCookies(),
        follow_redirects=False,
    )


def backoff_delay(
    attempt: int, base: float, cap: float, rng: Callable[[], float] = random.random
) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**(attempt - 1))]."""
    ceiling = min(cap, base * 2.0 ** max(0, attempt - 1))
    return rng() * ceiling


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed HTTP attempt: the error to raise, the observer's outcome
    label, and whether a read may be retried after it."""

    error: QPayError
    outcome: str
    retryable: bool


async def send(
    http: httpx.AsyncClient,
    method: str,
    path: str,
    authorization: str,
    content: bytes | None = None,
) -> httpx.Response | Failure:
    """One HTTP exchange; transport errors come back as a Failure."""
    headers = {"Authorization": authorization}
    if content is not None:
        headers["Content-Type"] = "application/json"
    try:
        return await http.request(method, path, content=content, headers=headers)
    except _NOT_SENT as error:
        timed_out = isinstance(error, httpx.TimeoutException)
        message = f"could not reach QPay ({type(error).__name__})"
        reached, outcome = False, "timeout" if timed_out else "connect_error"
    except httpx.TimeoutException as error:
        message = f"QPay did not answer in time ({type(error).__name__})"
        reached, outcome = True, "timeout"
    except _HTTPX_ERRORS as error:
        message = f"QPay connection failed ({type(error).__name__})"
        reached, outcome = True, "transport_error"
    return Failure(
        QPayUnavailable(message, may_have_reached=reached), outcome, retryable=True
    )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads_exact(content: bytes | str) -> Any:
    """JSON with every non-integer number as a Decimal, never a float (an
    amount must not pass through binary floating point), and NaN/Infinity
    refused. Raises ValueError for anything that is not JSON."""
    return json.loads(content, parse_float=Decimal, parse_constant=_no_constant)


def json_or_none(response: httpx.Response) -> Any:
    """The JSON of an answer, {} for an empty body, None when not JSON."""
    if not response.content.strip():
        return {}
    try:
        return loads_exact(response.content)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return None


def read_answer(
    response: httpx.Response, endpoint: str, parse: Callable[[object], T]
) -> T | Failure:
    """A (non-401) response as a parsed answer, or as a Failure."""
    status = response.status_code
    error: QPayError
    if status >= 500:
        body = parse_error_body(response.content)
        error = QPayUnavailable(
            f"QPay {endpoint} answered {status}: {body.message}",
            may_have_reached=True,
            code=body.code,
            status=status,
        )
        return Failure(error, "http_5xx", retryable=True)
    if status == 429:
        # Not seen from QPay (reference §9), but a refusal to process: safe to
        # retry as a read, and never processed.
        error = QPayUnavailable(
            f"QPay {endpoint} answered 429 (rate limited)",
            may_have_reached=False,
            status=status,
        )
        return Failure(error, "rate_limited", retryable=True)
    if status >= 400:
        body = parse_error_body(response.content)
        if body.code in NOT_FOUND_CODES:
            error = QPayNotFound(body.message, code=body.code, status=status)
        else:
            error = QPayRejected(
                body.message, code=body.code, status=status, fields=body.fields
            )
        return Failure(error, "http_4xx", retryable=False)
    if not 200 <= status < 300:
        error = QPayUnavailable(
            f"QPay {endpoint} answered an unexpected {status}",
            may_have_reached=True,
            status=status,
        )
        return Failure(error, "malformed", retryable=False)
    # A garbled answer (cut short, an HTML page from a proxy) says nothing
    # about the request: a read may simply ask again. Writes are never retried.
    data = json_or_none(response)
    if data is None:
        error = QPayUnavailable(
            f"QPay {endpoint} answered non-JSON: "
            f"{parse_error_body(response.content).message}",
            may_have_reached=True,
            status=status,
        )
        return Failure(error, "malformed", retryable=True)
    try:
        return parse(data)
    except QPayUnavailable as malformed:
        return Failure(malformed, "malformed", retryable=True)
