"""paymentStatus: the current state first, then every change, until terminal
(and, when an e-Barimt receipt was asked for, until it is issued or failed).

Registration with the hub happens before the snapshot is read, so no change
can fall between them. Every wake-up re-reads the row (the database is the
truth; pushes are hints), only a higher version is sent, and a re-read every
`resync_seconds` covers a lost push. No session is held across a yield.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from domain.errors import DomainError, ErrorCode
from domain.intents import IntentId
from domain.services.watch_payment_status import (
    PaymentStatus,
    client_secret_valid,
    read_payment_status,
)
from graph.context import Info, Services
from graph.errors import PublicError, public_error
from graph.ids import parse_uuid
from graph.types.invoice import Invoice, QPayIntent


@strawberry.type
class PaymentStatusEvent:
    intent: QPayIntent
    invoice: Invoice
    settled: bool
    version: int
    at: datetime

    @classmethod
    def from_status(cls, status: PaymentStatus) -> PaymentStatusEvent:
        return cls(
            intent=QPayIntent.from_domain(status.intent),
            invoice=Invoice.from_domain(status.invoice),
            settled=status.intent.settled,
            version=status.intent.version,
            at=status.intent.updated_at,
        )


FORBIDDEN = "not allowed to watch this payment"


async def _authorize(
    info: Info, intent_id: IntentId, client_secret: str | None
) -> None:
    services = info.context.services
    viewer = info.context.viewer
    if viewer is not None:
        if viewer.expires_at <= services.clock.now():
            raise PublicError("the staff token has expired", ErrorCode.FORBIDDEN.value)
        return
    if not await client_secret_valid(intent_id, client_secret, uow=services.uow):
        raise PublicError(FORBIDDEN, ErrorCode.FORBIDDEN.value)


async def _read(
    services: Services, intent_id: IntentId, *, watch: bool
) -> PaymentStatus | None:
    if not watch:
        return await read_payment_status(intent_id, uow=services.uow)
    return await read_payment_status(
        intent_id,
        uow=services.uow,
        watch_seconds=services.watch_seconds,
        poll_interval=services.poll_interval_seconds,
    )


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def payment_status(
        self,
        info: Info,
        intent_id: strawberry.ID,
        client_secret: str | None = None,
    ) -> AsyncGenerator[PaymentStatusEvent, None]:
        services = info.context.services
        try:
            parsed = IntentId(parse_uuid(intent_id, "intentId"))
        except DomainError as error:
            raise public_error(error) from None
        await _authorize(info, parsed, client_secret)
        with services.events.subscribe(parsed) as wakeups:
            current = await _read(services, parsed, watch=True)
            if current is None:
                raise PublicError("QPay intent not found", ErrorCode.NOT_FOUND.value)
            yield PaymentStatusEvent.from_status(current)
            while not current.is_final:
                timed_out = False
                try:
                    wakeup = await asyncio.wait_for(
                        wakeups.get(), timeout=services.resync_seconds
                    )
                except TimeoutError:
                    wakeup, timed_out = None, True
                if wakeup is not None and wakeup <= current.intent.version:
                    continue
                # The safety-net re-read also renews "a screen is watching".
                fresh = await _read(services, parsed, watch=timed_out)
                if fresh is None:
                    return
                if fresh.intent.version > current.intent.version:
                    current = fresh
                    yield PaymentStatusEvent.from_status(current)
