"""Use case: the e-Barimt worker issues pending receipts after settlement.

Receipts are rows written in the settling transaction (an outbox); the worker
claims due ones with a lease, asks QPay outside any transaction, and stores
the lottery number and QR data. Failures retry with backoff and end FAILED
with lastError after `max_attempts`; a settlement is never undone by a receipt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from domain.errors import DomainError
from domain.gateway import ReceiptRequest
from domain.ports import Clock, DueReceipt, PaymentGateway, UnitOfWorkFactory

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReceiptPolicy:
    max_attempts: int = 6
    base_delay: float = 2.0
    max_delay: float = 300.0
    lease_seconds: float = 60.0
    batch: int = 10


def retry_delay(attempts: int, policy: ReceiptPolicy) -> float:
    return float(min(policy.base_delay * (2 ** max(attempts - 1, 0)), policy.max_delay))


async def issue_due_receipts(
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
    policy: ReceiptPolicy,
) -> int:
    """Issue what is due; returns how many receipts were attempted."""
    async with uow() as tx:
        due = await tx.receipts.claim_due(
            policy.batch, policy.lease_seconds, gateway.environment
        )
        await tx.commit()
    for receipt in due:
        await _issue_one(receipt, uow=uow, gateway=gateway, clock=clock, policy=policy)
    return len(due)


async def _issue_one(
    receipt: DueReceipt,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
    policy: ReceiptPolicy,
) -> None:
    request = ReceiptRequest(
        qpay_payment_id=receipt.qpay_payment_id,
        receiver_type=receipt.receiver_type,
        receiver=receipt.receiver,
    )
    try:
        issued = await gateway.create_receipt(request)
    except DomainError as error:
        attempts = receipt.attempts + 1
        final = attempts >= policy.max_attempts
        logger.warning(
            "e-Barimt for payment %s failed (attempt %s%s): %s",
            receipt.payment_id,
            attempts,
            ", giving up" if final else "",
            error.code,
        )
        async with uow() as tx:
            version = await tx.receipts.mark_failed(
                receipt.id,
                error.message[:1000],
                attempts=attempts,
                retry_in=None if final else retry_delay(attempts, policy),
                now=clock.now(),
            )
            if final and version is not None and receipt.intent_id is not None:
                tx.intent_changed(receipt.intent_id, version)
            await tx.commit()
        return
    async with uow() as tx:
        version = await tx.receipts.mark_issued(receipt.id, issued, now=clock.now())
        if version is not None and receipt.intent_id is not None:
            # The checkout screen shows the lottery number: announce a change.
            tx.intent_changed(receipt.intent_id, version)
        await tx.commit()
