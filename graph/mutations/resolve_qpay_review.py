"""resolveQPayReview (design.md §8)."""

from __future__ import annotations

import strawberry

from domain.errors import DomainError, Subject
from domain.intents import IntentId
from domain.services.resolve_qpay_review import ResolveQPayReview, resolve_qpay_review
from graph.context import Info, actor_of
from graph.errors import FieldPaths, user_errors
from graph.ids import parse_uuid
from graph.types.enums import ReviewResolution
from graph.types.qpay_intent import QPayIntent, QPayIntentPayload

PATHS: FieldPaths = {
    Subject.INTENT: "input.intentId",
    Subject.RESOLUTION: "input.resolution",
    Subject.NOTE: "input.note",
    Subject.IDEMPOTENCY_KEY: "input.idempotencyKey",
    Subject.PAYMENT: "input.resolution",
    Subject.AMOUNT: "input.resolution",
}


@strawberry.input
class ResolveQPayReviewInput:
    intent_id: strawberry.ID
    resolution: ReviewResolution
    note: str = strawberry.field(description="Why, for the intent and its history.")
    idempotency_key: str = strawberry.field(
        description="The same key and input replay the first answer."
    )


async def resolve_resolve_qpay_review(
    info: Info,
    input: ResolveQPayReviewInput,  # contract name
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
