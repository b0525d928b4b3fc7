"""Judging responses: what counts as an internal error, and how a request
was refused (typed payload error, GraphQL validation error, HTTP 4xx)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

# Text of a Python or database exception that escaped into a response.
PYTHON_EXCEPTION = re.compile(
    r"Traceback|\b[A-Z]\w*(?:Error|Exception|Warning)\(|object has no attribute"
    r"|NoneType|unexpected keyword argument|positional argument|asyncpg|sqlalchemy"
    r"|invalid input syntax|violates|character varying",
    re.IGNORECASE,
)
# A KeyError's text is the repr of the missing key, and nothing else.
KEY_ERROR = re.compile(r"^'[^']*'$")
# Strawberry's MaskErrors text: in production it stands for an internal error.
MASKED = "Unexpected error."
# design.md §3 ErrorCode, plus the auth codes of GraphQL errors.
ERROR_CODES = frozenset(
    {
        "NOT_FOUND",
        "INVALID_INPUT",
        "INVALID_AMOUNT",
        "AMOUNT_EXCEEDS_BALANCE",
        "INVOICE_ALREADY_PAID",
        "INVOICE_VOID",
        "METHOD_DISABLED",
        "PAYMENT_NOT_CONFIRMED",
        "INTENT_NOT_PENDING",
        "IDEMPOTENCY_CONFLICT",
        "QPAY_UNAVAILABLE",
        "QPAY_REJECTED",
        "FORBIDDEN",
        "RATE_LIMITED",
        "UNAUTHENTICATED",
    }
)


def graphql_body(text: str) -> dict[str, Any]:
    """The JSON object of a GraphQL response; ValueError for anything else."""
    body = json.loads(text)
    if not isinstance(body, dict) or not ({"data", "errors"} & body.keys()):
        raise ValueError("no data and no errors")
    return body


def internal_errors(status: int, text: str) -> list[str]:
    """What in one response shows an internal error (empty: none)."""
    if status >= 500:
        return [f"HTTP {status}: {text[:300]}"]
    if status != 200:
        return []  # a refusal by the HTTP layer is fine
    try:
        body = graphql_body(text)
    except ValueError as invalid:
        return [f"not a GraphQL response ({invalid}): {text[:300]}"]
    found: list[str] = []
    for error in body.get("errors") or []:
        message = str(error.get("message", ""))
        code = (error.get("extensions") or {}).get("code")
        if message == MASKED and error.get("path") is None:
            found.append(
                "a client mistake answered with the masked 'Unexpected error.'"
            )
        elif message == MASKED:
            found.append(f"masked internal error at {error['path']}")
        elif PYTHON_EXCEPTION.search(message) or KEY_ERROR.match(message):
            found.append(f"Python exception text: {message[:300]}")
        elif error.get("path") is not None and code is None:
            # Raised while resolving, yet no code: an exception nobody mapped.
            found.append(f"uncoded error at {error['path']}: {message[:300]}")
    return found


def refusal(response: httpx.Response) -> str:
    """How a hostile request was refused; AssertionError when it was not, or
    when the refusal is an internal error.

    Returns "HTTP <status>" for a 4xx, the payload's error codes joined with
    "," (each code "CODE@field"), or the GraphQL errors' messages.
    """
    problems = internal_errors(response.status_code, response.text)
    assert problems == [], problems
    if 400 <= response.status_code < 500:
        return f"HTTP {response.status_code}"
    assert response.status_code == 200, response.text[:300]
    body = graphql_body(response.text)
    if body.get("errors"):
        for error in body["errors"]:
            code = (error.get("extensions") or {}).get("code")
            assert code is None or code in ERROR_CODES, error
        return " | ".join(str(error["message"]) for error in body["errors"])
    data = body.get("data") or {}
    payload_errors = [
        error
        for payload in data.values()
        if isinstance(payload, dict)
        for error in payload.get("errors") or []
    ]
    assert payload_errors, f"accepted: {response.text[:300]}"
    for error in payload_errors:
        assert error["code"] in ERROR_CODES, error
    return ",".join(f"{error['code']}@{error.get('field')}" for error in payload_errors)
