"""Pages newest first: what a request may ask, and how a page knows there is more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import DomainError, ErrorCode, Subject
from domain.pages import MAX_PAGE, ListFilter, PageRequest, check_request, page_of

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_size_is_first_capped_at_the_maximum() -> None:
    assert PageRequest(first=7).size == 7
    assert PageRequest(first=MAX_PAGE + 1).size == MAX_PAGE
    assert PageRequest(first=10**9).size == MAX_PAGE


def test_negative_first_is_refused_as_a_page_size() -> None:
    with pytest.raises(DomainError) as refused:
        check_request(PageRequest(first=-1), ListFilter())

    assert refused.value.code is ErrorCode.INVALID_INPUT
    assert refused.value.subject is Subject.PAGE_SIZE


@pytest.mark.parametrize("length", [timedelta(0), timedelta(hours=-1)])
def test_a_period_that_ends_before_it_starts_is_refused(length: timedelta) -> None:
    wanted: ListFilter[str] = ListFilter(created_from=T0, created_to=T0 + length)

    with pytest.raises(DomainError) as refused:
        check_request(PageRequest(), wanted)

    assert refused.value.subject is Subject.PERIOD


def test_open_ended_periods_and_zero_rows_are_accepted() -> None:
    check_request(PageRequest(first=0), ListFilter(created_from=T0))
    check_request(PageRequest(), ListFilter(created_to=T0))


def test_page_of_reads_one_extra_row_as_has_next() -> None:
    request = PageRequest(first=2)

    assert page_of([1, 2, 3], request).items == [1, 2]
    assert page_of([1, 2, 3], request).has_next is True
    assert page_of([1, 2], request).has_next is False
    assert page_of([], PageRequest(first=0)).has_next is False
