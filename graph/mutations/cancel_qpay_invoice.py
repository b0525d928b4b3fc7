"""cancelQPayInvoice."""

from __future__ import annotations

import strawberry

from domain.errors import DomainError, Subject
from domain.intents import IntentId
from domain.services.cancel_qpay_invoice import cancel_qpay_invoice
from graph.context import Info, actor_of
from graph.errors import FieldPaths, user_errors
from graph.ids import parse_uuid
from graph.types.qpay_intent import QPayIntent, QPayIntentPayload

PATHS: FieldPaths = {Subject.INTENT: "intentId"}


async def resolve_cancel_qpay_invoice(
    info: Info, intent_id: strawberry.ID
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
