"""After the whole e2e suite: its logs hold no staff JWT, QPay token, client
secret, callback token or QPay credential (reference §7, scenario 32).

Named to run last in tests/e2e; the lines come from the session fixture
`captured_logs`, formatted with the service's own redaction filter."""

from __future__ import annotations

import base64
import re

import pytest

from tests.conftest import TEST_JWT_SECRET

pytestmark = pytest.mark.e2e

LEAKS = {
    "a JWT (staff or QPay token)": re.compile(
        r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    ),
    "a bearer credential": re.compile(r"(?i)bearer\s+(?!\[redacted\])\S{8,}"),
    "a callback token": re.compile(r"[?&]token=(?!\[redacted\])[^&\s\"']+"),
    "a client secret": re.compile(r"(?i)[?&]secret=(?!\[redacted\])[^&\s\"']+"),
    "the QPay credentials": re.compile(
        re.escape(base64.b64encode(b"TEST_MERCHANT:123456").decode())
    ),
    "the staff-token secret": re.compile(re.escape(TEST_JWT_SECRET)),
}


def test_logs_of_the_e2e_suite_hold_no_secret_when_captured(
    captured_logs: list[str],
) -> None:
    found = {
        what: [line[:200] for line in captured_logs if pattern.search(line)][:3]
        for what, pattern in LEAKS.items()
    }

    assert len(captured_logs) > 100, "the suite logged (callbacks, QPay calls, ...)"
    assert {what: lines for what, lines in found.items() if lines} == {}
