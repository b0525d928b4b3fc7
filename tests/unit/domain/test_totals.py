"""The day's close: whole days of the clinic's calendar, every method."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from domain.errors import DomainError, Subject
from domain.payments import PaymentMethod
from domain.totals import MAX_DAYS, period_of, totals_of

ULAANBAATAR = ZoneInfo("Asia/Ulaanbaatar")
DAY = date(2026, 11, 30)


def test_a_day_runs_from_local_midnight_to_local_midnight() -> None:
    start, end = period_of(DAY, DAY, ULAANBAATAR)

    assert start.astimezone(UTC) == datetime(2026, 11, 29, 16, 0, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)


def test_a_period_of_the_longest_allowed_span_is_accepted() -> None:
    start, end = period_of(DAY, DAY + timedelta(days=MAX_DAYS - 1), ULAANBAATAR)

    assert (end - start).days == MAX_DAYS


@pytest.mark.parametrize(
    "last_day",
    [DAY - timedelta(days=1), DAY + timedelta(days=MAX_DAYS)],
    ids=["backwards", "too-long"],
)
def test_a_period_nobody_can_mean_is_refused(last_day: date) -> None:
    with pytest.raises(DomainError) as refused:
        period_of(DAY, last_day, ULAANBAATAR)

    assert refused.value.subject is Subject.PERIOD


def test_totals_list_every_method_and_add_up() -> None:
    start, end = period_of(DAY, DAY, ULAANBAATAR)
    paid = {
        PaymentMethod.CASH: (Decimal("15000.00"), 2),
        PaymentMethod.QPAY: (Decimal("5000.50"), 1),
    }

    found = totals_of(DAY, DAY, ULAANBAATAR, start, end, paid)

    assert [m.method for m in found.methods] == list(PaymentMethod)
    assert found.payments == found.net == Decimal("20000.50")
    assert found.payment_count == 3
    assert found.refunds == Decimal(0) and found.refund_count == 0
    card = next(m for m in found.methods if m.method is PaymentMethod.CARD)
    assert (card.payments, card.payment_count, card.net) == (Decimal(0), 0, Decimal(0))
    assert found.time_zone == "Asia/Ulaanbaatar"
