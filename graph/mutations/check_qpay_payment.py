"""checkQPayPayment."""

from __future__ import annotations

from typing import Annotated

import strawberry

from domain.errors import DomainError, ErrorCode, Subject
from domain.intents import IntentId
from domain.services.check_qpay_payment import (
    CHECK_WINDOW_SECONDS,
    check_qpay_payment,
)
from graph.context import Info, actor_of
from graph.errors import FieldPaths, user_errors
from graph.ids import parse_uuid
from graph.types.enums import possible_errors
from graph.types.qpay_intent import QPayIntent, QPayIntentPayload

PATHS: FieldPaths = {Subject.INTENT: "intentId"}
# What checkQPayPayment can answer in `errors`
# (domain/services/check_qpay_payment.py, settle_qpay_intent.py).
ERRORS = (
    ErrorCode.INVALID_INPUT,
    ErrorCode.NOT_FOUND,
    ErrorCode.RATE_LIMITED,
    ErrorCode.QPAY_UNAVAILABLE,
    ErrorCode.QPAY_REJECTED,
)
DESCRIPTION = (
    "Ask QPay now whether the intent was paid, and record what it says (the "
    "same settlement as QPay's callback and the poller run). QPay is asked at "
    f"most once per {CHECK_WINDOW_SECONDS:g} s per intent; inside that window "
    "the stored state is answered. QPay is asked in every status: money on a "
    "paid, cancelled or expired QR is recorded too (the intent then goes to "
    "NEEDS_REVIEW). A checkout screen does not need it: paymentStatus pushes "
    "every change. INVALID_INPUT also means an intent made at another QPay "
    "environment." + possible_errors(*ERRORS)
)
INTENT_ID_DESCRIPTION = "The intent to check (QPayIntent.id)."


async def resolve_check_qpay_payment(
    info: Info,
    intent_id: Annotated[
        strawberry.ID, strawberry.argument(description=INTENT_ID_DESCRIPTION)
    ],
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
