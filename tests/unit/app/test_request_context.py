"""Request ids and the log context: what a client's X-Request-ID may become,
and how the fields reach a JSON or console line."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from app import request_context
from app.logging_setup import make_handler


@pytest.mark.parametrize(
    "header",
    ["abc", "req-1.2:3_X", "a" * 128, "0f3e5c2a-8a36-4d7e-9a62-2b1d6fd5b8f1"],
)
def test_a_sane_request_id_is_kept_when_given(header: str) -> None:
    assert request_context.accepted_request_id(header) == header


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "a" * 129,
        "two words",
        "line\nbreak",
        "id\r\nX-Injected: 1",
        "token=eyJhbGciOi",
        "<script>",
        "ünïcode",
    ],
)
def test_a_new_request_id_replaces_one_when_it_is_not_an_id(
    header: str | None,
) -> None:
    accepted = request_context.accepted_request_id(header)

    assert accepted != header
    assert len(accepted) == 32 and accepted.isalnum()


def test_fields_are_bound_until_reset_when_nested() -> None:
    outer = request_context.start_request("r1")
    inner = request_context.bind(intent_id="i1", invoice_id=None)

    seen = dict(request_context.current())
    request_context.reset(inner)
    after_inner = dict(request_context.current())
    request_context.reset(outer)

    assert seen == {"request_id": "r1", "intent_id": "i1"}
    assert after_inner == {"request_id": "r1"}
    assert dict(request_context.current()) == {}


def test_a_run_replaces_a_stale_request_id_when_a_background_pass_starts() -> None:
    async def background() -> dict[str, str]:
        request_context.start_run("poller")
        return dict(request_context.current())

    async def scenario() -> tuple[dict[str, str], dict[str, str]]:
        with request_context.bound(request_id="stale"):
            task = asyncio.create_task(background())
        fields = await task
        return fields, dict(request_context.current())

    fields, caller = asyncio.run(scenario())

    assert fields["task"] == "poller" and len(fields["run_id"]) == 32
    assert "request_id" not in fields
    assert caller == {}


def test_qpay_payment_ids_become_fields_only_when_they_look_like_ids() -> None:
    assert request_context.sane_qpay_payment_id("593204862385634") == "593204862385634"
    assert request_context.sane_qpay_payment_id("1 OR 1=1") is None
    assert request_context.sane_qpay_payment_id("x" * 65) is None
    assert request_context.sane_qpay_payment_id(None) is None


def line_of(fmt: str, **extra: str) -> str:
    stream = io.StringIO()
    handler = make_handler(fmt, stream)
    logger = logging.getLogger("tests.request_context")
    logger.addHandler(handler)
    try:
        with request_context.bound(request_id="r-9", intent_id="i-9"):
            logger.warning("paid %s", "Bearer abcdefghijkl123", extra=extra)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_json_lines_carry_the_context_fields_when_bound() -> None:
    entry = json.loads(line_of("json"))

    assert entry["request_id"] == "r-9"
    assert entry["intent_id"] == "i-9"
    assert entry["message"] == "paid Bearer [redacted]"
    assert "task" not in entry


def test_a_field_given_with_extra_is_kept_when_the_context_has_one_too() -> None:
    entry = json.loads(line_of("json", intent_id="explicit"))

    assert entry["intent_id"] == "explicit"


def test_console_lines_end_with_the_context_fields_when_bound() -> None:
    line = line_of("console")

    assert line.rstrip().endswith("[request_id=r-9 intent_id=i-9]")
    assert "abcdefghijkl123" not in line
