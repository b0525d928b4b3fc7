"""Pages of a list, newest first (design.md §8).

A list is read in `created_at` descending order with the id as tie-breaker,
so a page ends at a `Position` and the next page starts just after it; no
offset is ever counted. How a position travels to a client (an opaque
cursor) is graph/'s business.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from domain.errors import DomainError, ErrorCode, Subject

MAX_PAGE = 100
DEFAULT_PAGE = 50

S = TypeVar("S")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended: the last row's creation time and id."""

    created_at: datetime
    id: UUID


@dataclass(frozen=True, slots=True)
class ListFilter(Generic[S]):
    """Which rows a list holds: any of `statuses` (none given: every status),
    created in [created_from, created_to)."""

    statuses: frozenset[S] = field(default_factory=frozenset)
    created_from: datetime | None = None
    created_to: datetime | None = None


@dataclass(frozen=True, slots=True)
class PageRequest:
    first: int = DEFAULT_PAGE
    after: Position | None = None

    @property
    def size(self) -> int:
        """How many rows the page holds at most: `first`, capped at MAX_PAGE."""
        return min(self.first, MAX_PAGE)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    has_next: bool


def check_request(request: PageRequest, wanted: ListFilter[S]) -> None:
    """Refuse a page nobody can mean; nothing is read."""
    if request.first < 0:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"a page holds 0 to {MAX_PAGE} rows (more is capped at {MAX_PAGE})",
            Subject.PAGE_SIZE,
        )
    start, end = wanted.created_from, wanted.created_to
    if start is not None and end is not None and start >= end:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "the period must start before it ends",
            Subject.PERIOD,
        )


def page_of(rows: Sequence[T], request: PageRequest) -> Page[T]:
    """The page from up to size + 1 rows read: the extra one says there is more."""
    return Page(items=rows[: request.size], has_next=len(rows) > request.size)
