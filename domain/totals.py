"""The day's close: what came in and went out by method over calendar days
in the clinic's time zone, to check against the bank's and QPay's statements.

Only money that counts towards invoices (MNT) is totalled; a payment in
another currency is recorded for review and never counted (domain/settlement).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from domain.errors import DomainError, ErrorCode, Subject
from domain.money import ZERO
from domain.payments import PaymentMethod

# A close spans at most a year of days: the query's cost stays bounded.
MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class MethodTotals:
    method: PaymentMethod
    payments: Decimal = ZERO
    payment_count: int = 0
    refunds: Decimal = ZERO
    refund_count: int = 0

    @property
    def net(self) -> Decimal:
        return self.payments - self.refunds


@dataclass(frozen=True, slots=True)
class PeriodTotals:
    first_day: date
    last_day: date
    time_zone: str
    start: datetime
    end: datetime
    # Every method, in the contract's order, zeros included.
    methods: tuple[MethodTotals, ...]

    @property
    def payments(self) -> Decimal:
        return sum((m.payments for m in self.methods), ZERO)

    @property
    def payment_count(self) -> int:
        return sum(m.payment_count for m in self.methods)

    @property
    def refunds(self) -> Decimal:
        return sum((m.refunds for m in self.methods), ZERO)

    @property
    def refund_count(self) -> int:
        return sum(m.refund_count for m in self.methods)

    @property
    def net(self) -> Decimal:
        return self.payments - self.refunds


def period_of(
    first_day: date, last_day: date, zone: ZoneInfo
) -> tuple[datetime, datetime]:
    """[midnight starting first_day, midnight ending last_day) in `zone`."""
    if last_day < first_day:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "the period must start before it ends",
            Subject.PERIOD,
        )
    if (last_day - first_day).days >= MAX_DAYS:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"a period spans at most {MAX_DAYS} days",
            Subject.PERIOD,
        )
    start = datetime.combine(first_day, time(0), zone)
    end = datetime.combine(last_day + timedelta(days=1), time(0), zone)
    return start, end


def totals_of(
    first_day: date,
    last_day: date,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    paid: dict[PaymentMethod, tuple[Decimal, int]],
    refunded: dict[PaymentMethod, tuple[Decimal, int]] | None = None,
) -> PeriodTotals:
    """Every method's totals from the sums read (missing methods: zero).
    A refund counts on the day it completed, under its payment's method."""
    back = refunded or {}
    methods = tuple(
        MethodTotals(method, *paid.get(method, (ZERO, 0)), *back.get(method, (ZERO, 0)))
        for method in PaymentMethod
    )
    return PeriodTotals(first_day, last_day, zone.key, start, end, methods)
