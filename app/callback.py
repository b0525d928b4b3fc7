"""Accept a callback, then settle: everything QPay's callback sets off.

GET and POST /qpay/callback/{intentId}?token=... is thin: it bounds what it
keeps of the request and hands it to the CallbackSettler, which checks the
token and stores the request in one transaction (accept_callback), answers at
once and settles in the background (settle_if_paid) with bounded
concurrency; the settlement is scheduled the moment the token is right, so
its QPay check overlaps the storing. Repeated callbacks for an intent are
folded: one run at a time per intent, runs at least `spacing` apart,
callbacks meanwhile ask for one more run. So a replayed (leaked) callback URL
costs QPay at most one check per intent per `spacing`, and its requests are
stored only up to a budget.

Without a staff token anyone can reach this route, so what one request may
cost is bounded: the token is checked first (one primary-key read) and only
a wrong one counts against its address (past FAILED_CALLBACKS_PER_MINUTE it
gets 429 instead of 404, while a right token from the same address still
passes), and what is stored of a request is cut to a few kilobytes and
cleaned of NUL (PostgreSQL refuses it).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from uuid import UUID

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from app import request_context
from app.metrics import Metrics
from app.poller import CallbackHealth
from app.ratelimit import SlidingWindowLimiter
from app.tracing import NO_SPANS, Span, Spans
from domain.callbacks import ReceivedCallback
from domain.errors import DomainError
from domain.intents import IntentId, IntentRef
from domain.ports import Clock, PaymentGateway, UnitOfWorkFactory
from domain.services.record_callback import accept_callback
from domain.services.settle_qpay_intent import settle_if_paid

logger = logging.getLogger(__name__)

SECRET_HEADERS = {"authorization", "cookie", "proxy-authorization"}
# What is kept of one request for audit (QPay sends a short GET).
MAX_BODY = 4 * 1024
MAX_FIELDS = 32
MAX_KEY = 64
MAX_VALUE = 512
# Stored callbacks per intent per minute: QPay sends a few; a replayed URL is
# still answered SUCCESS (and settled, folded) but no longer stored.
STORED_PER_INTENT_PER_MINUTE = 20


class StorageBudget:
    """How many callbacks of one intent are stored per minute (bounded keys)."""

    def __init__(self, per_minute: int, *, max_intents: int = 10_000) -> None:
        self._limiter = SlidingWindowLimiter(per_minute, 60, max_keys=max_intents)

    def allows(self, intent_id: IntentId) -> bool:
        return self._limiter.hit(str(intent_id))


Settle = Callable[[IntentRef], Awaitable[object]]


class CallbackSettler:
    """Accept a callback, then settle. `accept` checks the token, stores the
    request (up to the budget) and schedules a settlement; settlements run
    at most `limit` at once, one per intent at a time, consecutive runs of
    one intent at least `spacing` seconds apart; a callback during a run (or
    too soon after one) asks for exactly one more run."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        settle: Settle,
        budget: StorageBudget | None = None,
        limit: int = 16,
        spacing: float = 1.0,
        now: Callable[[], float] = time.monotonic,
        remember: int = 10_000,
    ) -> None:
        """`remember`: how many intents' last run start is kept for the
        spacing (oldest forgotten first)."""
        self._uow = uow
        self._settle = settle
        self._budget = budget or StorageBudget(STORED_PER_INTENT_PER_MINUTE)
        self._semaphore = asyncio.Semaphore(limit)
        self._spacing = spacing
        self._now = now
        self._running: dict[IntentId, asyncio.Task[None]] = {}
        self._again: set[IntentId] = set()
        # When each intent's last run started, oldest first: the spacing
        # holds across runs, not only within one. Without it a replay that
        # arrived just as a quick run ended (QPay showed nothing paid)
        # started a new QPay check at once, and a flood of one right URL
        # cost a check per request.
        self._started: OrderedDict[IntentId, float] = OrderedDict()
        self._remember = remember
        self._closed = False

    async def accept(
        self, intent_id: IntentId, token: str | None, received: ReceivedCallback
    ) -> bool:
        """False, with nothing written or scheduled, for an unknown intent or
        a wrong token. Otherwise a settlement is scheduled as soon as the
        token is right, and runs (its QPay check) while the request is
        stored, unless this intent's budget is spent (a replay flood). If
        storing fails the settlement still runs: it believes nothing of the
        request."""
        # The settlement runs in the request's context (its span and log
        # fields), not in that of the unit of work it is scheduled from.
        context = contextvars.copy_context()
        ref = await accept_callback(
            intent_id,
            token,
            received,
            uow=self._uow,
            may_store=self._budget.allows,
            accepted=lambda ref: self.schedule(ref, context),
        )
        return ref is not None

    @property
    def busy(self) -> int:
        """Intents with a run in flight or waiting."""
        return len(self._running)

    def schedule(
        self, ref: IntentRef, context: contextvars.Context | None = None
    ) -> None:
        if self._closed:
            return
        if ref.intent_id in self._running:
            self._again.add(ref.intent_id)
            return
        self._running[ref.intent_id] = asyncio.create_task(
            self._run(ref), context=context
        )

    @property
    def remembered(self) -> int:
        """Intents whose last run start is kept for the spacing."""
        return len(self._started)

    def _note_start(self, intent_id: IntentId, started: float) -> None:
        self._started[intent_id] = started
        self._started.move_to_end(intent_id)
        while self._started and (
            len(self._started) > self._remember
            or next(iter(self._started.values())) <= started - self._spacing
        ):
            self._started.popitem(last=False)

    async def _run(self, ref: IntentRef) -> None:
        intent_id = ref.intent_id
        # This task's own log context (it inherited the first callback's).
        request_context.bind(intent_id=str(intent_id), invoice_id=str(ref.invoice_id))
        try:
            previous = self._started.get(intent_id)
            if previous is not None:
                # Callbacks arriving meanwhile fold into this run.
                wait = previous + self._spacing - self._now()
                if wait > 0:
                    await asyncio.sleep(wait)
                if self._stopped():
                    return
            while True:
                self._again.discard(intent_id)
                started = self._now()
                self._note_start(intent_id, started)
                async with self._semaphore:
                    try:
                        await self._settle(ref)
                    except DomainError as error:
                        # The poller retries; QPay being down loses nothing.
                        logger.warning(
                            "settlement after callback for %s: %s",
                            intent_id,
                            error.code,
                        )
                    except Exception:
                        logger.exception("settlement after callback for %s", intent_id)
                if intent_id not in self._again or self._closed:
                    return
                wait = started + self._spacing - self._now()
                if wait > 0:
                    await asyncio.sleep(wait)
                if self._stopped():  # drained while it waited
                    return
        finally:
            self._running.pop(intent_id, None)

    def _stopped(self) -> bool:
        return self._closed

    async def drain(self) -> None:
        """Stop taking work and wait for what is in flight."""
        self._closed = True
        running = list(self._running.values())
        if running:
            await asyncio.gather(*running, return_exceptions=True)


def settle_after_callback(
    *,
    uow: UnitOfWorkFactory,
    gateway: PaymentGateway,
    clock: Clock,
    metrics: Metrics,
    health: CallbackHealth,
    receipts_wake: asyncio.Event,
    spans: Spans = NO_SPANS,
) -> Settle:
    """The settlement a callback asks for: QPay is asked and what it says is
    recorded. A recorded payment tells the poller that callbacks arrive and,
    when the intent asked for an e-Barimt receipt, wakes the worker."""

    async def settle(ref: IntentRef) -> object:
        with spans.span(
            "qpay.settle", attributes={"qpay.intent_id": str(ref.intent_id)}
        ):
            outcome = await settle_if_paid(ref, uow=uow, gateway=gateway, clock=clock)
        # None: QPay shows nothing paid yet (the poller keeps asking).
        recorded = outcome.recorded if outcome is not None else ()
        metrics.settlements.labels(
            "callback", "recorded" if recorded else "unchanged"
        ).inc()
        if outcome is not None and recorded:
            health.note(by_callback=True)
            if outcome.intent.ebarimt is not None:
                # A receipt is due now; without one the worker's pass (a
                # transaction) would find nothing.
                receipts_wake.set()
        return outcome

    return settle


def callback_endpoint(
    *,
    settler: CallbackSettler,
    clock: Clock,
    metrics: Metrics,
    failures: SlidingWindowLimiter | None = None,
    spans: Spans = NO_SPANS,
) -> Callable[[Request], Awaitable[Response]]:
    def refused(address: str) -> Response:
        """A wrong token or an unknown intent: counted against the address,
        429 once it keeps failing (a right token is checked first, so QPay's
        genuine callback from that address still passes)."""
        if failures is not None and not failures.hit(address):
            metrics.callbacks.labels("rate_limited").inc()
            return PlainTextResponse("too many requests", status_code=429)
        metrics.callbacks.labels("rejected").inc()
        return PlainTextResponse("not found", status_code=404)

    async def qpay_callback(request: Request) -> Response:
        # A span for the request, and its trace id on the log lines; the
        # settlement it schedules inherits both.
        with (
            spans.span("qpay.callback", server=True) as span,
            request_context.bound(trace_id=spans.trace_id()),
        ):
            return await handle(request, span)

    async def handle(request: Request, span: Span) -> Response:
        address = request.client.host if request.client else "unknown"
        try:
            intent_id = IntentId(UUID(request.path_params["intent_id"]))
        except ValueError:
            return refused(address)
        # Undone with qpay_callback's bound() when the request ends.
        request_context.bind(
            intent_id=str(intent_id),
            qpay_payment_id=request_context.sane_qpay_payment_id(
                request.query_params.get("qpay_payment_id")
            ),
        )
        span.set_attribute("qpay.intent_id", str(intent_id))
        body = await _bounded_body(request)
        received = ReceivedCallback(
            intent_id=intent_id,
            method=request.method[:8],
            query=_bounded(
                (k, v) for k, v in request.query_params.multi_items() if k != "token"
            ),
            headers=_bounded(
                (k, v)
                for k, v in request.headers.items()
                if k.lower() not in SECRET_HEADERS
            ),
            body=_clean(body),
            remote_addr=_clean(address)[:64],
            received_at=clock.now(),
        )
        try:
            accepted = await settler.accept(
                intent_id, request.query_params.get("token"), received
            )
        except Exception:
            logger.exception("could not store a callback for %s", intent_id)
            metrics.callbacks.labels("error").inc()
            return PlainTextResponse("try again", status_code=503)
        if not accepted:
            return refused(address)
        metrics.callbacks.labels("accepted").inc()
        logger.info("QPay callback accepted for intent %s", intent_id)
        return PlainTextResponse("SUCCESS")

    return qpay_callback


def _clean(text: str) -> str:
    """Text PostgreSQL can store: no NUL (it refuses it in text and JSONB)."""
    return text.replace("\x00", "")


def _bounded(pairs: Iterable[tuple[str, str]]) -> Mapping[str, str]:
    """At most MAX_FIELDS pairs, each key and value cut short and cleaned."""
    kept: dict[str, str] = {}
    for key, value in pairs:
        if len(kept) >= MAX_FIELDS:
            break
        kept.setdefault(_clean(key)[:MAX_KEY], _clean(value)[:MAX_VALUE])
    return kept


async def _bounded_body(request: Request) -> str:
    """The first MAX_BODY bytes; the rest of the stream is not even read."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk[: MAX_BODY - size])
        size += len(chunk)
        if size >= MAX_BODY:
            break
    return b"".join(chunks).decode("utf-8", errors="replace")
