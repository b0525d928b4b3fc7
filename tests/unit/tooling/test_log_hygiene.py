"""The session-wide log check (tests/log_hygiene.py) finds what it claims."""

from __future__ import annotations

import logging

from app.staff_tokens import StaffTokens
from tests.conftest import TEST_JWT_SECRET
from tests.log_hygiene import E2E_LINES_AT_LEAST, LogCapture, leaks, problems


def _formatted(message: str, *args: object) -> str:
    handler = LogCapture()
    record = logging.LogRecord("qpay", logging.INFO, __file__, 1, message, args, None)
    handler.handle(record)
    return handler.lines[0]


def test_leaks_names_a_staff_jwt_left_in_a_line() -> None:
    token = StaffTokens(TEST_JWT_SECRET).issue()

    found = leaks([f"qpay INFO verified {token}"])

    assert list(found) == ["a JWT (staff or QPay token)"]


def test_leaks_names_a_callback_token_and_the_signing_secret() -> None:
    lines = [
        "httpx INFO GET /qpay/callback/1?token=abcdef123456&qpay_payment_id=9",
        f"app ERROR secret was {TEST_JWT_SECRET}",
    ]

    assert set(leaks(lines)) == {"a callback token", "the staff-token secret"}


def test_capture_applies_the_service_redaction_before_the_check() -> None:
    line = _formatted("GET %s", "/qpay/callback/1?token=abcdef123456")

    assert "[redacted]" in line
    assert leaks([line]) == {}


def test_problems_want_real_traffic_only_when_e2e_tests_ran() -> None:
    few = ["qpay INFO started"]

    assert problems(few, ran_e2e=False) == []
    assert "only 1 log lines" in problems(few, ran_e2e=True)[0]
    assert problems(few * E2E_LINES_AT_LEAST, ran_e2e=True) == []
