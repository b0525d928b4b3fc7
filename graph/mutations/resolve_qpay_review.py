"""resolveQPayReview (design.md §8)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from domain.errors import DomainError, ErrorCode, Subject
from domain.intents import IntentId
from domain.services.resolve_qpay_review import ResolveQPayReview, resolve_qpay_review
from graph.context import Info, actor_of
from graph.errors import FieldPaths, user_errors
from graph.ids import parse_uuid
from graph.types.enums import ReviewResolution, possible_errors
from graph.types.qpay_intent import QPayIntent, QPayIntentPayload

PATHS: FieldPaths = {
    Subject.INTENT: "input.intentId",
    Subject.RESOLUTION: "input.resolution",
    Subject.NOTE: "input.note",
    Subject.IDEMPOTENCY_KEY: "input.idempotencyKey",
    Subject.PAYMENT: "input.resolution",
    Subject.AMOUNT: "input.resolution",
}


# What resolveQPayReview can answer in `errors`
# (domain/services/resolve_qpay_review.py, and refund_payment.py for
# REFUND_EXCESS).
ERRORS = (
    ErrorCode.INVALID_INPUT,
    ErrorCode.NOT_FOUND,
    ErrorCode.IDEMPOTENCY_CONFLICT,
    ErrorCode.NOT_IN_REVIEW,
    ErrorCode.REFUND_NOT_SUPPORTED,
    ErrorCode.REFUND_EXCEEDS_PAYMENT,
    ErrorCode.QPAY_UNAVAILABLE,
    ErrorCode.QPAY_REJECTED,
)
DESCRIPTION = (
    "Close a NEEDS_REVIEW intent, recording who (the token's sub), how and "
    "why (note). ACCEPT keeps the money as recorded: PAID (CANCELLED when it "
    "holds none). REFUND_EXCESS first refunds through QPay what the invoice "
    "holds above its total, as whole card payments of this intent, then "
    "closes it (PAID, or REFUNDED when all its money went back): no excess is "
    "INVALID_INPUT; an excess no whole card payment matches is "
    "REFUND_NOT_SUPPORTED (nothing changed: give it back another way, then "
    "ACCEPT). The same idempotencyKey and input replays the first answer; a "
    "second resolution is NOT_IN_REVIEW. Refunds QPay made stay recorded even "
    "if the resolution then fails; retrying with the same key refunds "
    "nothing twice." + possible_errors(*ERRORS)
)


@strawberry.input(description="How a person closes an intent's review.")
class ResolveQPayReviewInput:
    intent_id: strawberry.ID = strawberry.field(
        description="The intent in NEEDS_REVIEW (QPayIntent.id)."
    )
    resolution: ReviewResolution = strawberry.field(
        description="Keep the money (ACCEPT) or refund the excess (REFUND_EXCESS)."
    )
    note: str = strawberry.field(
        description=(
            "Why, for the intent and its history (1 to 1000 characters); shown "
            "as QPayIntent.review.note."
        )
    )
    idempotency_key: str = strawberry.field(
        description=(
            "The same key and input replay the first answer; another input is "
            "IDEMPOTENCY_CONFLICT. At most 255 characters."
        )
    )


async def resolve_resolve_qpay_review(
    info: Info,
    input: Annotated[  # contract name
        ResolveQPayReviewInput,
        strawberry.argument(description="The intent, resolution, note and key."),
    ],
) -> QPayIntentPayload:
    services = info.context.services
    try:
        intent = await resolve_qpay_review(
            ResolveQPayReview(
                intent_id=IntentId(parse_uuid(input.intent_id, "input.intentId")),
                resolution=input.resolution,
                note=input.note,
                idempotency_key=input.idempotency_key,
                actor=actor_of(info),
            ),
            uow=services.uow,
            gateway=services.gateway,
            clock=services.clock,
        )
    except DomainError as error:
        return QPayIntentPayload(errors=user_errors(error, PATHS))
    return QPayIntentPayload(intent=QPayIntent.from_domain(intent))
