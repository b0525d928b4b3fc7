"""The redaction filter removes secrets from every log record."""

from __future__ import annotations

import logging

import pytest

from app.logging_setup import RedactionFilter, redact

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4Iiwicm9sZSI6InN0YWZmIn0."
    "abcdefghijklmnopqrstuv"
)


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {JWT}",
        f"token is {JWT}",
        "GET /qpay/callback/1?token=abcdefSECRET123&qpay_payment_id=9",
        '{"access_token": "abcdefSECRET123", "x": 1}',
        "client_secret=abcdefSECRET123",
        "Basic VEVTVF9NRVJDSEFOVDoxMjM0NTY=",
        "clientSecret: abcdefSECRET123",
    ],
)
def test_secrets_are_removed_when_logged(text: str) -> None:
    cleaned = redact(text)

    assert "SECRET123" not in cleaned
    assert JWT not in cleaned
    assert "VEVTVF9NRVJDSEFOVDoxMjM0NTY=" not in cleaned


def test_filter_rewrites_arguments_when_formatting() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "header %s", (f"Bearer {JWT}",), None
    )

    RedactionFilter().filter(record)

    assert JWT not in record.getMessage()
    assert "qpay_payment_id=9" in redact("callback?token=t0k3n&qpay_payment_id=9")
