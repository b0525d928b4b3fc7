"""GET and POST /qpay/callback/{intentId}?token=...: QPay says "something paid".

Thin: check the token and store the raw request (record_callback), answer
SUCCESS at once, then run settle_qpay_intent in the background with bounded
concurrency. Repeated callbacks for an intent that is already being settled
in this process are folded into one follow-up run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from uuid import UUID

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from app.metrics import Metrics
from app.ratelimit import SlidingWindowLimiter
from domain.callbacks import ReceivedCallback
from domain.errors import DomainError
from domain.intents import IntentId, IntentRef
from domain.ports import Clock, UnitOfWorkFactory
from domain.services.record_callback import record_callback

logger = logging.getLogger(__name__)

MAX_BODY = 16 * 1024
SECRET_HEADERS = {"authorization", "cookie", "proxy-authorization"}


class SettlementRunner:
    """Runs settlements in the background: at most `limit` at once, one per
    intent at a time (a callback during a run asks for one more run)."""

    def __init__(
        self, settle: Callable[[IntentRef], Awaitable[object]], *, limit: int = 16
    ) -> None:
        self._settle = settle
        self._semaphore = asyncio.Semaphore(limit)
        self._running: dict[IntentId, asyncio.Task[None]] = {}
        self._again: set[IntentId] = set()
        self._closed = False

    def schedule(self, ref: IntentRef) -> None:
        if self._closed:
            return
        if ref.intent_id in self._running:
            self._again.add(ref.intent_id)
            return
        self._running[ref.intent_id] = asyncio.create_task(self._run(ref))

    async def _run(self, ref: IntentRef) -> None:
        intent_id = ref.intent_id
        try:
            while True:
                self._again.discard(intent_id)
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
        finally:
            self._running.pop(intent_id, None)

    async def drain(self) -> None:
        """Stop taking work and wait for what is in flight."""
        self._closed = True
        running = list(self._running.values())
        if running:
            await asyncio.gather(*running, return_exceptions=True)


def callback_endpoint(
    *,
    uow: UnitOfWorkFactory,
    clock: Clock,
    runner: SettlementRunner,
    metrics: Metrics,
    failures: SlidingWindowLimiter | None = None,
) -> Callable[[Request], Awaitable[Response]]:
    def rejected(address: str) -> Response:
        metrics.callbacks.labels("rejected").inc()
        if failures is not None:
            failures.hit(address)
        return PlainTextResponse("not found", status_code=404)

    async def qpay_callback(request: Request) -> Response:
        address = request.client.host if request.client else "unknown"
        if failures is not None and failures.blocked(address):
            # A flood of wrong tokens from one address: refused before any I/O.
            metrics.callbacks.labels("rate_limited").inc()
            return PlainTextResponse("too many requests", status_code=429)
        try:
            intent_id = IntentId(UUID(request.path_params["intent_id"]))
        except ValueError:
            return rejected(address)
        body = await _bounded_body(request)
        received = ReceivedCallback(
            intent_id=intent_id,
            method=request.method,
            query={k: v for k, v in request.query_params.items() if k != "token"},
            headers={
                k: v
                for k, v in request.headers.items()
                if k.lower() not in SECRET_HEADERS
            },
            body=body,
            remote_addr=address,
            received_at=clock.now(),
        )
        try:
            accepted = await record_callback(
                intent_id,
                request.query_params.get("token"),
                received,
                uow=uow,
                on_accepted=runner.schedule,
            )
        except Exception:
            logger.exception("could not store a callback for %s", intent_id)
            metrics.callbacks.labels("error").inc()
            return PlainTextResponse("try again", status_code=503)
        if not accepted:
            return rejected(address)
        metrics.callbacks.labels("accepted").inc()
        return PlainTextResponse("SUCCESS")

    return qpay_callback


async def _bounded_body(request: Request) -> str:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk[: MAX_BODY - size])
        size += len(chunk)
        if size >= MAX_BODY:
            break
    return b"".join(chunks).decode("utf-8", errors="replace")
