"""Refund: money given back on a payment (design.md §8)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from domain import refunds
from graph.context import Info
from graph.types.enums import RefundChannel, RefundStatus
from graph.types.visibility import STAFF_ONLY_NULL, staff_only

# Refund.actor of a refund nobody here asked for: found refunded at QPay.
FOUND_AT_QPAY = "qpay"


@strawberry.type(
    description=(
        "Money given back on a payment. Only a COMPLETED refund has left the "
        "invoice's paid amount; PENDING means QPay's answer is not known yet "
        "(the service asks again); FAILED means QPay shows the payment still paid."
    )
)
class Refund:
    def _last_error(self, info: Info) -> str | None:
        staff_only(info, "Refund.lastError")
        return self._domain.last_error

    id: strawberry.ID
    payment_id: strawberry.ID
    amount: Decimal = strawberry.field(
        description="In the payment's currency (MNT for every counted payment)."
    )
    status: RefundStatus
    channel: RefundChannel = strawberry.field(
        description=(
            "QPAY: through QPay's refund endpoint; DESK: given back by staff; "
            "OUTSIDE: found refunded at QPay (its merchant portal)."
        )
    )
    reason: str
    actor: str = strawberry.field(
        description=(
            "The staff member who asked (their token's `sub`), or `qpay` for a "
            "refund made outside this service and found at QPay."
        )
    )
    created_at: datetime
    completed_at: datetime | None
    last_error: str | None = strawberry.field(
        resolver=_last_error,
        description="Why a refund FAILED." + STAFF_ONLY_NULL,
    )
    _domain: strawberry.Private[refunds.Refund]

    @classmethod
    def from_domain(cls, refund: refunds.Refund) -> Refund:
        return cls(
            id=strawberry.ID(str(refund.id)),
            payment_id=strawberry.ID(str(refund.payment_id)),
            amount=refund.amount,
            status=refund.status,
            channel=refund.channel,
            reason=refund.reason,
            actor=refund.actor or FOUND_AT_QPAY,
            created_at=refund.created_at,
            completed_at=refund.completed_at,
            _domain=refund,
        )
