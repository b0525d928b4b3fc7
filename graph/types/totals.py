"""PaymentTotals: the day's close, by method (issue 15, item 6)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import strawberry

from domain import totals
from graph.types.enums import PaymentMethod


@strawberry.type
class MethodTotals:
    method: PaymentMethod
    payments: Decimal
    payment_count: int
    refunds: Decimal
    refund_count: int
    net: Decimal

    @classmethod
    def from_domain(cls, found: totals.MethodTotals) -> MethodTotals:
        return cls(
            method=found.method,
            payments=found.payments,
            payment_count=found.payment_count,
            refunds=found.refunds,
            refund_count=found.refund_count,
            net=found.net,
        )


@strawberry.type(
    description=(
        "Money in and out over whole days of the clinic's calendar "
        "(CLINIC_TIME_ZONE), by method: what the front desk closes the day with "
        "against the bank's and QPay's statements. Only MNT counts; a payment in "
        "another currency is left for review."
    )
)
class PaymentTotals:
    first_day: date
    last_day: date
    time_zone: str
    start: datetime = strawberry.field(description="Midnight starting firstDay.")
    end: datetime = strawberry.field(description="Midnight ending lastDay.")
    methods: list[MethodTotals] = strawberry.field(
        description="Every method, zeros included."
    )
    payments: Decimal
    payment_count: int
    refunds: Decimal
    refund_count: int
    net: Decimal

    @classmethod
    def from_domain(cls, found: totals.PeriodTotals) -> PaymentTotals:
        return cls(
            first_day=found.first_day,
            last_day=found.last_day,
            time_zone=found.time_zone,
            start=found.start,
            end=found.end,
            methods=[MethodTotals.from_domain(m) for m in found.methods],
            payments=found.payments,
            payment_count=found.payment_count,
            refunds=found.refunds,
            refund_count=found.refund_count,
            net=found.net,
        )
