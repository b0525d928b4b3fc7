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
FIRST_DESCRIPTION = (
    f"How many rows the page holds at most: 0 to {MAX_PAGE}; a larger value is "
    f"capped at {MAX_PAGE}, a negative one is INVALID_INPUT."
)
AFTER_DESCRIPTION = (
    "Where the page starts: a cursor from this list (pageInfo.endCursor, or an "
    "edge's cursor); the page holds the rows older than it. Opaque: never "
    "build or change one (a cursor not made by this API is INVALID_INPUT). "
    "Null: the newest rows. Keep the same filter while paging."
)
FILTER_DESCRIPTION = "Which rows the list holds; null: all of them."
STATUS_FILTER_DESCRIPTION = "Any of these statuses; null or empty: any status."
CREATED_FROM_DESCRIPTION = (
    "Only rows created at or after this moment (inclusive); null: no lower "
    "bound. Must be before createdTo (INVALID_INPUT)."
)
CREATED_TO_DESCRIPTION = (
    "Only rows created before this moment (exclusive); null: no upper bound."
)
CURSOR_DESCRIPTION = (
    "This row's position in the list, opaque: pass it as `after` to read the "
    "rows after it."
)


@strawberry.type(
    description=(
        "Where a page of a list ends, newest first (createdAt descending, then "
        "id). Pages are keyset pages: rows created after the first page was "
        "read never shift later pages."
    )
)
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="True when older rows follow this page (ask with `after`)."
    )
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
