"""refundPayment (design.md §8)."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from domain.errors import DomainError, Subject
from domain.payments import PaymentId
from domain.services.refund_payment import RefundPayment, refund_payment
from graph.context import Info, actor_of
from graph.errors import FieldPaths, UserError, user_errors
from graph.ids import parse_uuid
from graph.types.invoice import Invoice
from graph.types.payment import Payment
from graph.types.refund import Refund

PATHS: FieldPaths = {
    Subject.PAYMENT: "input.paymentId",
    Subject.AMOUNT: "input.amount",
    Subject.REASON: "input.reason",
    Subject.IDEMPOTENCY_KEY: "input.idempotencyKey",
}


@strawberry.input
class RefundPaymentInput:
    payment_id: strawberry.ID
    amount: Decimal | None = strawberry.field(
        default=None,
        description=(
            "How much to give back; null: all that is left. A QPay payment is "
            "refunded whole (QPay's refund takes no amount)."
        ),
    )
    reason: str = strawberry.field(description="Why, for the invoice's history.")
    idempotency_key: str = strawberry.field(
        description="The same key and input replay the first answer."
    )


@strawberry.type
class RefundPaymentPayload:
    refund: Refund | None = None
    payment: Payment | None = None
    invoice: Invoice | None = None
    errors: list[UserError] = strawberry.field(
        default_factory=list,
        description=(
            "Empty when the refund is recorded. A refund whose QPay answer was "
            "lost comes back PENDING with QPAY_UNAVAILABLE here: the service "
            "asks QPay again, and the same key replays it."
        ),
    )


async def resolve_refund_payment(
    info: Info,
    input: RefundPaymentInput,  # contract name
) -> RefundPaymentPayload:
    services = info.context.services
    try:
        result = await refund_payment(
            RefundPayment(
                payment_id=PaymentId(parse_uuid(input.payment_id, "input.paymentId")),
                amount=input.amount,
                reason=input.reason,
                idempotency_key=input.idempotency_key,
                actor=actor_of(info),
            ),
            uow=services.uow,
            gateway=services.gateway,
            clock=services.clock,
        )
    except DomainError as error:
        return RefundPaymentPayload(errors=user_errors(error, PATHS))
    pending = result.pending_because
    return RefundPaymentPayload(
        refund=Refund.from_domain(result.refund),
        payment=Payment.from_domain(result.payment),
        invoice=Invoice.from_domain(result.invoice),
        errors=user_errors(pending, PATHS) if pending else [],
    )
