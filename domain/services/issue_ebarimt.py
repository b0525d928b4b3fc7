"""Use case: the e-Barimt worker issues pending receipts after settlement,
at most once per payment.

Receipts are rows written in the settling transaction (an outbox); the worker
claims due ones with a lease (owner and expiry, database clock) and asks QPay
outside any transaction. A create is never sent twice blindly: before it is
sent the receipt is marked uncertain (committed), and a create whose outcome
is unknown (a timeout after it reached QPay, a 5xx, an empty `{}` answer, a
crash) leaves it so. The next attempt first finds out what QPay holds:

    e-Barimt 3.0   receipts are keyed by payment id: the payment's receipts
                   are cancelled at QPay (none found, or the one the lost
                   answer made), then one is created
    e-Barimt v2    a receipt cannot be looked up by payment: the receipt ends
                   FAILED with lastError telling a person to check QPay

Failures of every kind count as attempts, retry with backoff and end FAILED
with lastError after `max_attempts`; a settlement is never undone by a receipt.

A refunded payment's receipts are returned (VOIDING, then VOIDED) by the same
worker: the payment's receipts are cancelled at QPay (e-Barimt 3.0, by
payment id; v2, by the receipt's id), or, in v2 without the receipt's id (a
create whose answer was lost), the receipt ends FAILED with lastError telling
a person to cancel it in QPay's portal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from domain.errors import DomainError, GatewayUnavailable
from domain.events import ReceiptChanged
from domain.ports import (
    Clock,
    DueReceipt,
    PaymentGateway,
    ReceiptMarked,
    UnitOfWork,
    UnitOfWorkFactory,
)
from domain.qpay_messages import IssuedReceipt, ReceiptRequest, ReceiptVoid

logger = logging.getLogger(__name__)

CANNOT_VOID = (
    "the payment was refunded, but its receipt's id is not known (its create's "
    "answer was lost) and QPay's e-Barimt v2 cannot cancel by payment: cancel "
    "this receipt in QPay's merchant portal"
)
MAY_HAVE_REACHED = (
    "the e-Barimt request for this payment may have reached QPay (its answer was "
    "lost), and QPay's e-Barimt v2 cannot look a receipt up by payment, so it is "
    "not sent again: check QPay's merchant portal and issue it there if missing"
)


@dataclass(frozen=True, slots=True)
class ReceiptPolicy:
    max_attempts: int = 6
    base_delay: float = 2.0
    max_delay: float = 300.0
    # Longer than the QPay calls of one attempt (a void, then a create).
    lease_seconds: float = 240.0
    batch: int = 10


def retry_delay(attempts: int, policy: ReceiptPolicy) -> float:
    return float(min(policy.base_delay * (2 ** max(attempts - 1, 0)), policy.max_delay))


@dataclass(frozen=True, slots=True)
class _Failure:
    message: str
    # Whether a create may have reached QPay (None: as the row says; after a
    # crash mid-call the row says "may have", the safe assumption).
    uncertain: bool | None
    # No retry can help (a person must look).
    final: bool = False


async def issue_due_receipts(
    owner: str,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
    policy: ReceiptPolicy,
) -> int:
    """Issue what is due; returns how many receipts were attempted."""
    async with uow() as tx:
        due = await tx.receipts.claim_due(
            policy.batch, policy.lease_seconds, gateway.environment, owner
        )
        await tx.commit()
    for receipt in due:
        await _issue_one(
            receipt, owner, uow=uow, gateway=gateway, clock=clock, policy=policy
        )
    return len(due)


async def _issue_one(
    receipt: DueReceipt,
    owner: str,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
    policy: ReceiptPolicy,
) -> None:
    if receipt.voiding:
        await _void_one(
            receipt, owner, uow=uow, gateway=gateway, clock=clock, policy=policy
        )
        return
    try:
        outcome = await _attempt(receipt, owner, uow=uow, gateway=gateway)
    except Exception as error:
        logger.exception("e-Barimt for payment %s failed", receipt.payment_id)
        outcome = _Failure(f"{type(error).__name__}: {error}", uncertain=None)
    if outcome is None:
        return  # the lease or the status moved on: someone else has it
    if isinstance(outcome, IssuedReceipt):
        async with uow() as tx:
            marked = await tx.receipts.mark_issued(
                receipt.id, outcome, owner=owner, now=clock.now()
            )
            _announce(tx, receipt, marked)
            await tx.commit()
        if not marked.applied:
            logger.warning(
                "e-Barimt %s for payment %s was issued after the lease was lost",
                outcome.ebarimt_id,
                receipt.payment_id,
            )
        return
    await _record_failure(receipt, owner, outcome, uow=uow, clock=clock, policy=policy)


async def _void_one(
    receipt: DueReceipt,
    owner: str,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
    policy: ReceiptPolicy,
) -> None:
    """Cancel a refunded payment's receipts at QPay (cancelling is idempotent
    there: a second cancel finds none)."""
    try:
        found = await gateway.void_receipts(receipt.qpay_payment_id, receipt.ebarimt_id)
    except DomainError as error:
        failure = _Failure(f"cancelling at QPay: {error.message}", uncertain=None)
    except Exception as error:
        logger.exception("e-Barimt return for payment %s failed", receipt.payment_id)
        failure = _Failure(f"{type(error).__name__}: {error}", uncertain=None)
    else:
        if found is ReceiptVoid.UNSUPPORTED:
            failure = _Failure(CANNOT_VOID, uncertain=None, final=True)
        else:
            async with uow() as tx:
                marked = await tx.receipts.mark_voided(
                    receipt.id, owner=owner, now=clock.now()
                )
                _announce(tx, receipt, marked)
                await tx.commit()
            return
    await _record_failure(receipt, owner, failure, uow=uow, clock=clock, policy=policy)


async def _attempt(
    receipt: DueReceipt,
    owner: str,
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
) -> IssuedReceipt | _Failure | None:
    """One attempt: find out what QPay holds if a create may have reached it,
    then create. None when the receipt is no longer ours to issue."""
    if receipt.uncertain:
        try:
            found = await gateway.void_receipts(receipt.qpay_payment_id)
        except DomainError as error:
            # Still unknown what QPay holds: stay uncertain, try again later.
            return _Failure(f"looking for QPay's receipt: {error.message}", None)
        if found is ReceiptVoid.UNSUPPORTED:
            return _Failure(MAY_HAVE_REACHED, uncertain=True, final=True)
        if found is ReceiptVoid.VOIDED:
            logger.warning(
                "e-Barimt for payment %s: QPay held the receipt of a create whose "
                "answer was lost; it is cancelled and issued again",
                receipt.payment_id,
            )
    async with uow() as tx:
        mine = await tx.receipts.mark_sending(receipt.id, owner)
        await tx.commit()
    if not mine:
        return None
    request = ReceiptRequest(
        qpay_payment_id=receipt.qpay_payment_id,
        receiver_type=receipt.receiver_type,
        receiver=receipt.receiver,
    )
    try:
        issued = await gateway.create_receipt(request)
    except GatewayUnavailable as error:
        return _Failure(error.message, uncertain=error.may_have_reached)
    except DomainError as error:  # QPay answered no: nothing was issued
        return _Failure(error.message, uncertain=False)
    if issued.is_empty:
        return _Failure("QPay answered the e-Barimt request with {}", uncertain=True)
    return issued


async def _record_failure(
    receipt: DueReceipt,
    owner: str,
    failure: _Failure,
    *,
    uow: UnitOfWorkFactory,
    clock: Clock,
    policy: ReceiptPolicy,
) -> None:
    attempts = receipt.attempts + 1
    final = failure.final or attempts >= policy.max_attempts
    logger.warning(
        "e-Barimt for payment %s failed (attempt %s%s): %s",
        receipt.payment_id,
        attempts,
        ", for a person now" if final else "",
        failure.message[:200],
    )
    async with uow() as tx:
        marked = await tx.receipts.mark_failed(
            receipt.id,
            failure.message[:1000],
            owner=owner,
            attempts=attempts,
            retry_in=None if final else retry_delay(attempts, policy),
            uncertain=failure.uncertain,
            now=clock.now(),
            voiding=receipt.voiding,
        )
        _announce(tx, receipt, marked)
        await tx.commit()


def _announce(tx: UnitOfWork, receipt: DueReceipt, marked: ReceiptMarked) -> None:
    """The checkout screen shows the lottery number (or the failure)."""
    if marked.intent_version is not None and receipt.intent_id is not None:
        tx.record(
            ReceiptChanged(
                receipt.id,
                receipt.intent_id,
                marked.intent_version,
                payment_id=receipt.payment_id,
            )
        )
