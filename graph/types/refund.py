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

    id: strawberry.ID = strawberry.field(description="The refund's id (a UUID).")
    payment_id: strawberry.ID = strawberry.field(
        description="The id of the payment it gives money back on."
    )
    amount: Decimal = strawberry.field(
        description="In the payment's currency (MNT for every counted payment)."
    )
    status: RefundStatus = strawberry.field(
        description="Where it stands; only COMPLETED has moved money."
    )
    channel: RefundChannel = strawberry.field(
        description=(
            "QPAY: through QPay's refund endpoint; DESK: given back by staff; "
            "OUTSIDE: found refunded at QPay (its merchant portal)."
        )
    )
    reason: str = strawberry.field(
        description=(
            "Why, as the staff member wrote it (refundPayment's reason); for a "
            "refund found at QPay, a fixed text saying so."
        )
    )
    actor: str = strawberry.field(
        description=(
            "The staff member who asked (their token's `sub`), or `qpay` for a "
            "refund made outside this service and found at QPay."
        )
    )
    created_at: datetime = strawberry.field(
        description="When the refund was asked for (or found at QPay)."
    )
    completed_at: datetime | None = strawberry.field(
        description=(
            "When its money left the invoice; null unless COMPLETED. The day's "
            "close counts a refund on this day."
        )
    )
    last_error: str | None = strawberry.field(
        resolver=_last_error,
        description=(
            "Why a refund FAILED; null for any other status." + STAFF_ONLY_NULL
        ),
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
