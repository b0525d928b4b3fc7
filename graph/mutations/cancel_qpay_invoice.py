"""cancelQPayInvoice."""

from __future__ import annotations

from typing import Annotated

import strawberry

from domain.errors import DomainError, ErrorCode, Subject
from domain.intents import IntentId
from domain.services.cancel_qpay_invoice import cancel_qpay_invoice
from graph.context import Info, actor_of
from graph.errors import FieldPaths, user_errors
from graph.ids import parse_uuid
from graph.types.enums import possible_errors
from graph.types.qpay_intent import QPayIntent, QPayIntentPayload

PATHS: FieldPaths = {Subject.INTENT: "intentId"}
# What cancelQPayInvoice can answer in `errors`
# (domain/services/cancel_qpay_invoice.py).
ERRORS = (
    ErrorCode.INVALID_INPUT,
    ErrorCode.NOT_FOUND,
    ErrorCode.INTENT_NOT_PENDING,
    ErrorCode.QPAY_UNAVAILABLE,
    ErrorCode.QPAY_REJECTED,
)
DESCRIPTION = (
    "Cancel a PENDING intent at QPay, then mark it CANCELLED: its QR takes no "
    "more money. If QPay says it is already paid, the payment is recorded "
    "instead and the intent answered as it then is (PAID, or NEEDS_REVIEW). "
    "Cancelling a CANCELLED intent answers it unchanged. INVALID_INPUT also "
    "means an intent made at another QPay environment." + possible_errors(*ERRORS)
)
INTENT_ID_DESCRIPTION = "The intent to cancel (QPayIntent.id)."


async def resolve_cancel_qpay_invoice(
    info: Info,
    intent_id: Annotated[
        strawberry.ID, strawberry.argument(description=INTENT_ID_DESCRIPTION)
    ],
) -> QPayIntentPayload:
    services = info.context.services
    try:
        intent = await cancel_qpay_invoice(
            IntentId(parse_uuid(intent_id, "intentId")),
            uow=services.uow,
            gateway=services.gateway,
            clock=services.clock,
            actor=actor_of(info),
        )
    except DomainError as error:
        return QPayIntentPayload(errors=user_errors(error, PATHS))
    return QPayIntentPayload(intent=QPayIntent.from_domain(intent))
