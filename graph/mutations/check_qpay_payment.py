"""checkQPayPayment."""

from __future__ import annotations

import strawberry

from domain.errors import DomainError, ErrorCode, Subject
from domain.intents import IntentId
from domain.services.check_qpay_payment import check_qpay_payment
from graph.context import Info, actor_of
from graph.errors import FieldPaths, user_errors
from graph.ids import parse_uuid
from graph.types.qpay_intent import QPayIntent, QPayIntentPayload

PATHS: FieldPaths = {Subject.INTENT: "intentId"}


async def resolve_check_qpay_payment(
    info: Info, intent_id: strawberry.ID
) -> QPayIntentPayload:
    services = info.context.services
    try:
        parsed = IntentId(parse_uuid(intent_id, "intentId"))
        limiter = services.check_limiter
        if limiter is not None and not limiter.hit(str(parsed)):
            raise DomainError(
                ErrorCode.RATE_LIMITED,
                "too many checks of this payment; wait a little",
                Subject.INTENT,
            )
        intent = await check_qpay_payment(
            parsed,
            uow=services.uow,
            gateway=services.gateway,
            clock=services.clock,
            actor=actor_of(info),
        )
    except DomainError as error:
        return QPayIntentPayload(errors=user_errors(error, PATHS))
    return QPayIntentPayload(intent=QPayIntent.from_domain(intent))
