"""Errors of the QPay client. Nothing outside qpay/ sees an httpx exception.

    QPayError                      base; `code` is QPay's error key when known
    ├── QPayAuthError              AUTHENTICATION_FAILED, or a 401 after one re-login
    ├── QPayNotFound               INVOICE_NOTFOUND, PAYMENT_NOTFOUND, BARIMT_NOT_FOUND
    ├── QPayRejected               any other 4xx, with QPay's code and message
    └── QPayUnavailable            timeouts, connection errors, 5xx, non-JSON or
                                   malformed bodies; `may_have_reached` says whether
                                   QPay may have processed the request anyway

QPay error bodies are {"error": <code>, "message": <text>}, where either value
may be a string or, for validation failures, a nested object
({"page_limit": {"type": "MIN_NUMBER", "message": "..."}}). Codes keep QPay's
typos (NO_CREDENDIALS, EBARIMT_CANCEL_NOTSUPPERDED). Messages never carry tokens,
secrets or request headers.
"""

from __future__ import annotations

import json

NOT_FOUND_CODES = frozenset(
    {"INVOICE_NOTFOUND", "PAYMENT_NOTFOUND", "BARIMT_NOT_FOUND"}
)
TOKEN_CODES = frozenset({"NO_CREDENDIALS", "NO_CREDENTIALS"})
MAX_EXCERPT = 200


class QPayError(Exception):
    """Base of every QPay client error."""

    def __init__(
        self, message: str, *, code: str | None = None, status: int | None = None
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(code={self.code!r}, status={self.status!r}, {self.message!r})"


class QPayAuthError(QPayError):
    """QPay refused our credentials or token."""


class QPayNotFound(QPayError):
    """QPay does not know the invoice, payment or receipt."""


class QPayRejected(QPayError):
    """QPay refused the request with one of its codes."""


class QPayUnavailable(QPayError):
    """No usable answer from QPay (timeout, connection, 5xx, garbage)."""

    def __init__(
        self,
        message: str,
        *,
        may_have_reached: bool,
        code: str | None = None,
        status: int | None = None,
    ):
        super().__init__(message, code=code, status=status)
        self.may_have_reached = may_have_reached


def _flatten(value: object) -> str:
    """A readable text of a string, or of a nested validation object."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        parts = []
        for field, detail in value.items():
            if isinstance(detail, dict):
                kind = detail.get("type")
                text = detail.get("message")
                parts.append(f"{field}: {kind or ''} {text or ''}".strip())
            else:
                parts.append(f"{field}: {_flatten(detail)}")
        return "; ".join(parts)
    return json.dumps(value, ensure_ascii=False)[:MAX_EXCERPT]


def parse_error_body(text: str) -> tuple[str | None, str]:
    """(code, message) from a QPay error body; (None, excerpt) when not JSON."""
    try:
        data = json.loads(text)
    except ValueError:
        return None, text[:MAX_EXCERPT]
    if not isinstance(data, dict):
        return None, text[:MAX_EXCERPT]
    raw_code = data.get("error")
    raw_message = data.get("message", raw_code)
    if isinstance(raw_code, str):
        code: str | None = raw_code
    elif isinstance(raw_code, dict):
        # A validation failure: the code is the kind of the first field error.
        first = next(iter(raw_code.values()), None)
        code = (
            str(first.get("type"))
            if isinstance(first, dict) and first.get("type")
            else "VALIDATION_ERROR"
        )
    else:
        code = None
    message = _flatten(raw_message if raw_message is not None else "")
    if isinstance(raw_code, dict):
        message = _flatten(raw_code)
    return code, message[:MAX_EXCERPT] or (code or "")
