"""paymentStatus: the current state first, then every change, until terminal
(and, when an e-Barimt receipt was asked for, until it is issued or failed).

Registration with the hub happens before the snapshot is read, so no change
can fall between them. A wake-up that carries the intent's state at a higher
version (signed by this service when it committed: persistence/pushes.py) is
sent as it is, with the QR code and links of the snapshot; every other
wake-up re-reads the row (the database is the truth; a bare push is a hint).
Only a higher version is sent, and a re-read every `resync_seconds` covers
a lost push. No session is held across a yield. The
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
from typing import Annotated

import strawberry

from domain.errors import DomainError, ErrorCode
from domain.intents import IntentId
from domain.ports import Wakeup
from domain.services.watch_payment_status import read_payment_status
from domain.status import PaymentStatus, PushedStatus
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
    intent: QPayIntent = strawberry.field(
        description="The intent watched, as it is at `version`."
    )
    invoice: Invoice = strawberry.field(
        description=(
            "Its billing invoice, read with the intent (a checkout screen sees "
            "its number, amounts, status and times only)."
        )
    )
    settled: bool = strawberry.field(
        description=(
            "True once money QPay took on this intent counts on the invoice "
            "(intent.paidAmount above 0.00); PAID with settled true is the "
            "success screen."
        )
    )
    version: int = strawberry.field(
        description=(
            "The intent's version: one more per change (status, amounts, a "
            "receipt issued, a new lastError). Each event has a higher one "
            "than the last; a slow or reconnecting client may skip some. Keep "
            "the event with the highest."
        )
    )
    at: datetime = strawberry.field(
        description="When the intent reached this version (intent.updatedAt)."
    )

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
            intent_id, uow=services.reads_uow, client_secret=secret, check_secret=check
        )


PAYMENT_STATUS_DESCRIPTION = (
    "The state of one QPay intent, pushed: the current state first (a "
    "snapshot, on every subscribe), then every change with a higher version, "
    "in order. It completes after a final state: PAID and settled, CANCELLED, "
    "EXPIRED, NEEDS_REVIEW or REFUNDED, and, when an e-Barimt receipt was "
    "asked for, once the receipt is no longer PENDING (ISSUED or FAILED). A "
    "client that loses the connection subscribes again and gets the current "
    "state first, so a missed push costs nothing. Over the websocket only "
    "(graphql-transport-ws). Who may watch: a staff token in connection_init "
    "(every field), or the intent's clientSecret (no token; staff-only fields "
    "answer null or empty). A wrong or missing secret, or an unknown intent "
    "for a checkout screen, ends it with a FORBIDDEN error and no event; "
    "staff watching an unknown intent get NOT_FOUND; an intentId that is not "
    "a UUID is INVALID_INPUT."
)
INTENT_ID_DESCRIPTION = "The intent to watch (QPayIntent.id, or the id in checkoutUrl)."
CHECKOUT_ACCESS_DESCRIPTION = (
    "The intent's clientSecret from createQPayInvoice (the `secret` of "
    "checkoutUrl): required without a staff token, ignored with one. Every "
    "secret createQPayInvoice handed out for the intent works."
)


async def follow_payment_status(
    info: Info,
    intent_id: Annotated[
        strawberry.ID, strawberry.argument(description=INTENT_ID_DESCRIPTION)
    ],
    client_secret: Annotated[
        str | None, strawberry.argument(description=CHECKOUT_ACCESS_DESCRIPTION)
    ] = None,
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
            wakeup: Wakeup = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(resync):
                    wakeup = await wakeups.get()
            version = wakeup.version if isinstance(wakeup, PushedStatus) else wakeup
            if version is not None and version <= current.intent.version:
                continue
            fresh = wakeup.over(current) if isinstance(wakeup, PushedStatus) else None
            if fresh is None:
                fresh = await _read(services, parsed, check=False)
            if fresh is None:
                return
            if fresh.intent.version > current.intent.version:
                current = fresh
                yield PaymentStatusEvent.from_status(current)


@strawberry.type(
    description=(
        "Live pushes over the websocket /graphql (graphql-transport-ws only; "
        "over HTTP a subscription is refused with INVALID_INPUT). Refusals are "
        "GraphQL errors with extensions.code."
    )
)
class Subscription:
    payment_events: AsyncGenerator[PaymentEvent, None] = strawberry.subscription(
        resolver=follow_payment_events,
        description=(
            "Staff only: every new entry of any invoice's history (payments "
            "recorded, intents changed, refunds, receipts), live, from every "
            "process, each once, oldest first (one committed late may follow "
            "newer ones). No snapshot: read the day with the queries, "
            "then follow this; after a reconnect, read again. Never completes "
            "by itself; without a staff token (or with an expired one) it ends "
            "with a FORBIDDEN error, and the socket closes (4403) when the "
            "token expires."
        ),
    )
    payment_status: AsyncGenerator[PaymentStatusEvent, None] = strawberry.subscription(
        resolver=follow_payment_status, description=PAYMENT_STATUS_DESCRIPTION
    )
