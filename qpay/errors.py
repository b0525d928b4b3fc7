"""Errors of the QPay client. Nothing outside qpay/ ever sees an httpx exception.

    QPayError                  base; `code` is QPay's error key when known,
    │                          `status` the HTTP status when there was one
    ├── QPayAuthError          AUTHENTICATION_FAILED on login, or a second 401
    │                          after one re-login and replay
    ├── QPayNotFound           INVOICE_NOTFOUND, PAYMENT_NOTFOUND, BARIMT_NOT_FOUND
    ├── QPayRejected           any other 4xx, with QPay's code and message
    └── QPayUnavailable        timeouts, connection errors, 5xx, non-JSON or
                               malformed answers; `may_have_reached` says whether
                               QPay may have processed the request anyway

QPay's error bodies are `{"error": <code>, "message": <text>}`, where either
value may be a string or, for validation failures, a nested object
(`{"page_limit": {"type": "MIN_NUMBER", "message": "Number min value [1]!"}}`).
Codes keep QPay's spelling, typos included (NO_CREDENDIALS, and NO_CREDENTIALS
in production; EBARIMT_CANCEL_NOTSUPPERDED). Bodies on 5xx may not be JSON: a
short excerpt of the text is kept. Messages never carry tokens, the client
secret or request headers (reference/qpay-v2.md §8).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

NOT_FOUND_CODES = frozenset(
    {"INVOICE_NOTFOUND", "PAYMENT_NOTFOUND", "BARIMT_NOT_FOUND"}
)
# Sandbox spells it NO_CREDENDIALS; production reportedly NO_CREDENTIALS.
CREDENTIAL_CODES = frozenset({"NO_CREDENDIALS", "NO_CREDENTIALS"})
VALIDATION_CODE = "VALIDATION_ERROR"
MAX_EXCERPT = 200


class QPayError(Exception):
    """Base of every QPay client error."""

    def __init__(
        self, message: str, *, code: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.message!r}, code={self.code!r}, status={self.status!r})"


class QPayAuthError(QPayError):
    """QPay refused our credentials, or a freshly issued token."""


class QPayNotFound(QPayError):
    """QPay does not know the invoice, payment or receipt."""


class QPayRejected(QPayError):
    """QPay refused the request with a code of its own (a 4xx)."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, code=code, status=status)
        self.fields: Mapping[str, str] = dict(fields or {})


class QPayUnavailable(QPayError):
    """No usable answer from QPay (timeout, connection, 5xx, garbage)."""

    def __init__(
        self,
        message: str,
        *,
        may_have_reached: bool,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, code=code, status=status)
        self.may_have_reached = may_have_reached

    def __repr__(self) -> str:
        base = super().__repr__()[:-1]
        return f"{base}, may_have_reached={self.may_have_reached!r})"


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """What QPay said in an error body: its code (None when it gave none), a
    readable message, and per-field validation types for nested errors."""

    code: str | None
    message: str
    fields: Mapping[str, str] = field(default_factory=dict)


def excerpt(text: str, limit: int = MAX_EXCERPT) -> str:
    """A short one-line excerpt of a body, for messages and logs."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _field_errors(value: Mapping[object, object]) -> dict[str, str]:
    """{field: type} of a nested validation object."""
    kinds: dict[str, str] = {}
    for name, detail in value.items():
        if isinstance(detail, Mapping) and detail.get("type") is not None:
            kinds[str(name)] = str(detail["type"])
        else:
            kinds[str(name)] = "INVALID"
    return kinds


def _readable(value: object) -> str:
    """Text of a string, or of a nested validation object, one clause a field."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        parts: list[str] = []
        for name, detail in value.items():
            if isinstance(detail, Mapping):
                kind = detail.get("type")
                text = detail.get("message")
                words = " ".join(str(w) for w in (kind, text) if w is not None)
                parts.append(f"{name}: {words}".rstrip(": "))
            else:
                parts.append(f"{name}: {_readable(detail)}")
        return "; ".join(parts)
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, default=str)


def parse_error_body(content: bytes | str) -> ErrorBody:
    """Read a QPay error body of either shape; (None, excerpt) when not JSON."""
    text = (
        content.decode("utf-8", errors="replace")
        if isinstance(content, bytes)
        else content
    )
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return ErrorBody(None, excerpt(text) or "(empty body)")
    if not isinstance(data, Mapping):
        return ErrorBody(None, excerpt(text))
    raw_code = data.get("error")
    raw_message = data.get("message")
    fields: dict[str, str] = {}
    code: str | None
    if isinstance(raw_code, str) and raw_code:
        code = raw_code
    elif isinstance(raw_code, Mapping):
        fields = _field_errors(raw_code)
        code = VALIDATION_CODE
    else:
        code = None
    if isinstance(raw_message, Mapping):
        fields = fields or _field_errors(raw_message)
    # A nested `error` explains itself better than a message that repeats it.
    described = raw_code if isinstance(raw_code, Mapping) else raw_message
    message = excerpt(_readable(described)) or (code or excerpt(text))
    return ErrorBody(code, message, fields)
