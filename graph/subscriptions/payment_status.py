"""paymentStatus: the current state first, then every change, until terminal
(and, when an e-Barimt receipt was asked for, until it is issued or failed).

Registration with the hub happens before the snapshot is read, so no change
can fall between them. Every wake-up re-reads the row (the database is the
truth; pushes are hints), only a higher version is sent, and a re-read every
`resync_seconds` covers a lost push. No session is held across a yield. The
poller learns which intents are watched from the hub (app/watching.py).

Staff (a token in connection_init) see every field. A checkout screen
(`clientSecret`, no token) sees its own intent and the invoice's number,
amounts and status only: the field-by-field table is in graph/types/visibility.py,
whose resolvers enforce it however a field is reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from domain.errors import DomainError, ErrorCode
from domain.intents import IntentId
from domain.services.watch_payment_status import (
    PaymentStatus,
    read_payment_status,
)
from graph.context import Info, Services
from graph.errors import PublicError, public_error
from graph.ids import parse_uuid
from graph.subscriptions.payment_events import follow_payment_events
from graph.types.invoice import Invoice
from graph.types.payment_event import PaymentEvent
from graph.types.qpay_intent import QPayIntent


@strawberry.type(
    description=(
        "One state of a QPay intent and its invoice. Subscribed with the "
        "intent's clientSecret (no staff token), a checkout screen sees that "
        "intent (with its own payment and e-Barimt receipt) and the invoice's "
        "number, amounts and status: the invoice's description, payments and "
        "other intents, and a receipt's receiver and lastError, are staff only "
        "(see those fields)."
    )
)
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


async def _read(
    services: Services, intent_id: IntentId, secret: str | None = None, *, check: bool
) -> PaymentStatus | None:
    # At most a few subscriptions read at once: a burst of thousands of
    # screens connecting queues here instead of exhausting the pool.
    async with services.reads:
        return await read_payment_status(
            intent_id, uow=services.uow, client_secret=secret, check_secret=check
        )


@strawberry.type
class Subscription:
    payment_events: AsyncGenerator[PaymentEvent, None] = strawberry.subscription(
        resolver=follow_payment_events,
        description=(
            "Staff only: every payment recorded, intent changed and receipt "
            "changed, live, from every process. No snapshot: read the day with "
            "the queries, then follow this; after a reconnect, read again."
        ),
    )

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
        viewer = info.context.viewer
        if viewer is not None and viewer.expires_at <= services.clock.now():
            raise PublicError("the staff token has expired", ErrorCode.FORBIDDEN.value)
        with services.hub.subscribe(parsed) as wakeups:
            # Registered before the snapshot is read: no change falls between.
            current = await _read(services, parsed, client_secret, check=viewer is None)
            if current is None:
                if viewer is None:
                    raise PublicError(FORBIDDEN, ErrorCode.FORBIDDEN.value)
                raise PublicError("QPay intent not found", ErrorCode.NOT_FOUND.value)
            yield PaymentStatusEvent.from_status(current)
            while not current.is_final:
                # The safety-net re-read, jittered so thousands of idle
                # screens do not all re-read in the same second.
                resync = services.resync_seconds * random.uniform(0.8, 1.2)  # noqa: S311
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can
                # swallow a cancellation that lands as the queue yields, and a
                # cancelled operation then runs on, registered, forever.
                wakeup: int | None = None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(resync):
                        wakeup = await wakeups.get()
                if wakeup is not None and wakeup <= current.intent.version:
                    continue
                fresh = await _read(services, parsed, check=False)
                if fresh is None:
                    return
                if fresh.intent.version > current.intent.version:
                    current = fresh
                    yield PaymentStatusEvent.from_status(current)
