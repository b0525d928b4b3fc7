"""PaymentTotals: the day's close, by method (issue 15, item 6)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import strawberry

from domain import totals
from graph.types.enums import PaymentMethod


@strawberry.type(description="One payment method's money over the period, in MNT.")
class MethodTotals:
    method: PaymentMethod = strawberry.field(description="The payment method.")
    payments: Decimal = strawberry.field(
        description=(
            "Sum of the MNT payments recorded (createdAt) in the period, in MNT."
        )
    )
    payment_count: int = strawberry.field(
        description="How many MNT payments were recorded in the period."
    )
    refunds: Decimal = strawberry.field(
        description=(
            "Sum of the refunds COMPLETED in the period on payments of this "
            "method (whenever those were paid), in MNT."
        )
    )
    refund_count: int = strawberry.field(
        description="How many refunds were COMPLETED in the period."
    )
    net: Decimal = strawberry.field(
        description="payments less refunds, in MNT; may be negative."
    )

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
    first_day: date = strawberry.field(description="The period's first day.")
    last_day: date = strawberry.field(description="The period's last day (included).")
    time_zone: str = strawberry.field(
        description="The IANA time zone of the days (e.g. Asia/Ulaanbaatar)."
    )
    start: datetime = strawberry.field(
        description="Midnight starting firstDay in timeZone (as UTC), inclusive."
    )
    end: datetime = strawberry.field(
        description="Midnight ending lastDay in timeZone (as UTC), exclusive."
    )
    methods: list[MethodTotals] = strawberry.field(
        description="Every payment method, zeros included, in PaymentMethod's order."
    )
    payments: Decimal = strawberry.field(
        description="Sum of every method's payments, in MNT."
    )
    payment_count: int = strawberry.field(
        description="How many payments, every method."
    )
    refunds: Decimal = strawberry.field(
        description="Sum of every method's completed refunds, in MNT."
    )
    refund_count: int = strawberry.field(
        description="How many refunds completed, every method."
    )
    net: Decimal = strawberry.field(
        description="payments less refunds, in MNT; may be negative."
    )

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
