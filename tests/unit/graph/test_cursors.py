"""Cursors are opaque, round-trip exactly, and anything else is INVALID_INPUT."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest

from domain.errors import ErrorCode
from graph.errors import ArgumentError
from graph.pagination import MAX_CURSOR_LENGTH, decode_cursor, encode_cursor

T0 = datetime(2026, 11, 30, 9, 0, 0, 123456, tzinfo=UTC)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def test_a_cursor_names_exactly_the_row_it_was_made_from() -> None:
    row_id = uuid4()
    local = T0.astimezone(timezone(timedelta(hours=8)))

    position = decode_cursor(encode_cursor(local, row_id), "after")

    assert position.created_at == T0
    assert position.id == row_id


def test_every_real_cursor_fits_the_length_limit() -> None:
    cursor = encode_cursor(datetime.max.replace(tzinfo=UTC), uuid4())

    assert len(cursor) <= MAX_CURSOR_LENGTH


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64 at all!",
        "x" * 1_000_000,
        "é" * 40,
        _b64("v1|2026-11-30T09:00:00+00:00"),
        _b64(f"v1|2026-11-30T09:00:00+00:00|{uuid4()}|extra"),
        _b64(f"v2|2026-11-30T09:00:00+00:00|{uuid4()}"),
        _b64(f"v1|2026-11-30T09:00:00|{uuid4()}"),
        _b64("v1|yesterday|" + str(uuid4())),
        _b64("v1|2026-11-30T09:00:00+00:00|not-a-uuid"),
        base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
    ],
    ids=[
        "empty",
        "not-base64",
        "a-megabyte",
        "non-ascii",
        "two-parts",
        "four-parts",
        "other-version",
        "naive-time",
        "not-a-time",
        "not-a-uuid",
        "not-utf8",
    ],
)
def test_anything_but_our_cursor_is_refused_naming_the_argument(cursor: str) -> None:
    with pytest.raises(ArgumentError) as refused:
        decode_cursor(cursor, "after")

    assert refused.value.code is ErrorCode.INVALID_INPUT
    assert refused.value.path == "after"
