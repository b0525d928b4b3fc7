"""refundPayment (design.md §8)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import strawberry

from domain.errors import DomainError, Subject
from domain.payments import PaymentId
from domain.services.refund_payment import RefundPayment, refund_payment
from graph.context import Info, actor_of
from graph.errors import FieldPaths, UserError, user_errors
from graph.ids import parse_uuid
from graph.types.enums import ErrorCode, possible_errors
from graph.types.invoice import Invoice
from graph.types.payment import Payment
from graph.types.refund import Refund

PATHS: FieldPaths = {
    Subject.PAYMENT: "input.paymentId",
    Subject.AMOUNT: "input.amount",
    Subject.REASON: "input.reason",
    Subject.IDEMPOTENCY_KEY: "input.idempotencyKey",
}


# What refundPayment can answer in `errors` (domain/services/refund_payment.py,
# domain/refunds.py).
ERRORS = (
    ErrorCode.INVALID_INPUT,
    ErrorCode.INVALID_AMOUNT,
    ErrorCode.NOT_FOUND,
    ErrorCode.IDEMPOTENCY_CONFLICT,
    ErrorCode.REFUND_EXCEEDS_PAYMENT,
    ErrorCode.REFUND_NOT_SUPPORTED,
    ErrorCode.QPAY_UNAVAILABLE,
    ErrorCode.QPAY_REJECTED,
)
DESCRIPTION = (
    "Give money back on a recorded payment. A QPAY payment is refunded whole "
    "through QPay, which refunds card payments only (a bank-app payment is "
    "REFUND_NOT_SUPPORTED and nothing changes); QPay is asked once, never "
    "retried. Every other method is recorded as given back at the desk: "
    "COMPLETED at once, any part of what is left. A COMPLETED refund lowers "
    "the invoice's paidAmount (its status follows) and the intent's (REFUNDED "
    "once all its money is back), and returns the payment's e-Barimt receipt. "
    "The same idempotencyKey and input replays the first answer. If QPay's "
    "answer is lost the refund comes back PENDING with QPAY_UNAVAILABLE; the "
    "service asks QPay until it knows (Payment.refunds and paymentEvents show "
    "the outcome)." + possible_errors(*ERRORS)
)


@strawberry.input(description="A refund to make on a recorded payment.")
class RefundPaymentInput:
    payment_id: strawberry.ID = strawberry.field(
        description="The payment to give money back on (Payment.id)."
    )
    amount: Decimal | None = strawberry.field(
        default=None,
        description=(
            "How much to give back, in the payment's currency, above 0.00 and "
            "at most what is left (Payment.refundableAmount, else "
            "REFUND_EXCEEDS_PAYMENT); null: all that is left. A QPay payment is "
            "refunded whole (QPay's refund takes no amount): null or its whole "
            "amount, else INVALID_AMOUNT."
        ),
    )
    reason: str = strawberry.field(
        description=(
            "Why, for the invoice's history (1 to 1000 characters); also sent "
            "to QPay with a QPay refund."
        )
    )
    idempotency_key: str = strawberry.field(
        description=(
            "The same key and input replay the first answer; another input is "
            "IDEMPOTENCY_CONFLICT. A new key per refund, the same one to retry "
            "it; at most 255 characters."
        )
    )


@strawberry.type(description="The answer of refundPayment.")
class RefundPaymentPayload:
    refund: Refund | None = strawberry.field(
        default=None,
        description=(
            "The refund as it stands: COMPLETED, PENDING while QPay's answer is "
            "unknown, or (a replayed key) whatever it became; null when refused."
        ),
    )
    payment: Payment | None = strawberry.field(
        default=None,
        description="The payment refunded; null when refused.",
    )
    invoice: Invoice | None = strawberry.field(
        default=None,
        description=(
            "The invoice after the refund (paidAmount and status moved when "
            "COMPLETED); null when refused."
        ),
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list,
        description=(
            "Empty when the refund is recorded. A refund whose QPay answer was "
            "lost comes back PENDING with QPAY_UNAVAILABLE here: the service "
            "asks QPay again, and the same key replays it. Any other code: "
            "refused, nothing written, refund/payment/invoice null."
            + possible_errors(*ERRORS)
        ),
    )


async def resolve_refund_payment(
    info: Info,
    input: Annotated[  # contract name
        RefundPaymentInput,
        strawberry.argument(description="The payment, amount, reason and key."),
    ],
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
