"""Use case: a person asks "has it been paid?" (checkQPayPayment)."""

from __future__ import annotations

from domain.errors import Subject, not_found
from domain.intents import IntentId, QPayIntent
from domain.ports import Clock, PaymentGateway, UnitOfWorkFactory
from domain.services.settle_qpay_intent import settle_qpay_intent

# QPay asks merchants not to poll; one check per intent per window is plenty.
CHECK_WINDOW_SECONDS = 2.0


async def check_qpay_payment(
    intent_id: IntentId,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
    window_seconds: float = CHECK_WINDOW_SECONDS,
    actor: str | None = None,
) -> QPayIntent:
    """Settle from QPay's answer, at most one QPay call per intent per window;
    inside the window the stored state is returned. QPay is asked whatever the
    intent's state: a paid, cancelled or expired QR can still take money (a
    second scan, a payment racing the cancel), and it is recorded."""
    async with uow() as tx:
        intent = await tx.intents.get(intent_id)
        if intent is None or not intent.is_created:
            raise not_found("QPay intent", Subject.INTENT)
        claimed = await tx.schedule.claim_check(intent_id, window_seconds)
        await tx.commit()
    if not claimed:
        return intent
    outcome = await settle_qpay_intent(
        intent_id, uow=uow, gateway=gateway, clock=clock, actor=actor
    )
    return outcome.intent
