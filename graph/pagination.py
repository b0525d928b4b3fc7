"""Cursor pages (design.md §8): PageInfo, and cursors as clients see them.

A cursor is opaque to clients: base64url of "v1|<createdAt>|<id>", the
position of the row it belongs to (domain/pages.py). Anything that does not
decode to exactly that, or is longer than any real cursor, is refused as
INVALID_INPUT naming the argument; a client never gets a 500 for a cursor.

Strawberry's relay connections are not used: §8 fixes a smaller PageInfo
(hasNextPage, endCursor) than relay's, and our pages are keyset pages, not
the offset slices strawberry.relay's ListConnection builds.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

import strawberry

from domain.pages import MAX_PAGE, Position
from graph.errors import ArgumentError

VERSION = "v1"
# "v1|" + 32-char ISO time with offset + "|" + 36-char UUID, base64 (4/3).
MAX_CURSOR_LENGTH = 128
PAGE_SIZE_NOTE = (
    f"At most {MAX_PAGE} per page: a larger `first` is capped at {MAX_PAGE}."
)


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None = strawberry.field(
        description="Pass as `after` for the next page; null on an empty page."
    )

    @classmethod
    def of(cls, cursors: Sequence[str], has_next: bool) -> PageInfo:
        """The page's info from its edges' cursors, in order."""
        return cls(has_next_page=has_next, end_cursor=cursors[-1] if cursors else None)


def encode_cursor(created_at: datetime, row_id: UUID) -> str:
    text = f"{VERSION}|{created_at.astimezone(UTC).isoformat()}|{row_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, path: str) -> Position:
    """The position a cursor of ours names; ArgumentError at `path` if not one."""
    refused = ArgumentError("is not a cursor from this API", path)
    if len(cursor) > MAX_CURSOR_LENGTH or not cursor.isascii():
        raise refused
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
        version, at, row_id = text.split("|")
        created_at = datetime.fromisoformat(at)
        position = Position(created_at=created_at, id=UUID(row_id))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise refused from None
    if version != VERSION or created_at.tzinfo is None:
        raise refused
    return position
