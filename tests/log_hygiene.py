"""Log hygiene, checked once per test session (reference §7, scenario 32).

A pytest plugin (registered in tests/conftest.py): from the start of the
session every log record is formatted the way production writes it (the
service's redaction filter on) and kept; when the session finishes, no
line may hold a staff JWT, a QPay token, a client secret, a callback token
or a QPay credential, or the run fails with the lines found. Whatever tests
ran (one file or all of them), their logs are checked, with no test that
has to be named to run last.
"""

from __future__ import annotations

import base64
import logging
import re

import pytest

from app.logging_setup import RedactionFilter
from tests.conftest import TEST_JWT_SECRET

# The simulator rigs' QPay credentials (client id and secret).
QPAY_CREDENTIALS = base64.b64encode(b"TEST_MERCHANT:123456").decode()

LEAKS = {
    "a JWT (staff or QPay token)": re.compile(
        r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    ),
    "a bearer credential": re.compile(r"(?i)bearer\s+(?!\[redacted\])\S{8,}"),
    "a callback token": re.compile(r"[?&]token=(?!\[redacted\])[^&\s\"']+"),
    "a client secret": re.compile(r"(?i)[?&]secret=(?!\[redacted\])[^&\s\"']+"),
    "the QPay credentials": re.compile(re.escape(QPAY_CREDENTIALS)),
    "the staff-token secret": re.compile(re.escape(TEST_JWT_SECRET)),
}
# Enough lines that the check saw real traffic when end-to-end tests ran.
E2E_LINES_AT_LEAST = 100
EXAMPLES = 3


class LogCapture(logging.Handler):
    """Formats every record the way production would (redaction filter on)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.addFilter(RedactionFilter())
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def leaks(lines: list[str]) -> dict[str, list[str]]:
    """What each leak pattern found (the first few lines, cut), if anything."""
    found = {
        what: [line[:200] for line in lines if pattern.search(line)][:EXAMPLES]
        for what, pattern in LEAKS.items()
    }
    return {what: examples for what, examples in found.items() if examples}


def problems(lines: list[str], ran_e2e: bool) -> list[str]:
    """Why the session's logs fail the check; empty when they pass."""
    found = [
        f"{what}: {example}"
        for what, examples in leaks(lines).items()
        for example in examples
    ]
    if ran_e2e and len(lines) < E2E_LINES_AT_LEAST:
        found.append(
            f"only {len(lines)} log lines from a run with end-to-end tests: "
            "the capture is not seeing the service's logs"
        )
    return found


_CAPTURE = pytest.StashKey[tuple[LogCapture, int]]()


def pytest_configure(config: pytest.Config) -> None:
    handler = LogCapture()
    root = logging.getLogger()
    config.stash[_CAPTURE] = (handler, root.level)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    handler, _level = session.config.stash[_CAPTURE]
    items = getattr(session, "items", [])
    ran_e2e = any(item.get_closest_marker("e2e") for item in items)
    found = problems(handler.lines, ran_e2e)
    if not found:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("=", "log hygiene: the logs hold secrets", red=True)
        for line in found:
            reporter.write_line(line)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    handler, level = config.stash[_CAPTURE]
    root = logging.getLogger()
    root.removeHandler(handler)
    root.setLevel(level)
