"""create_app(settings): the Starlette application and its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import NoReturn

import httpx
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from uvicorn.config import STARTUP_FAILURE

from app.bootstrap import Container, build_container, close_container
from app.callback import CallbackSettler, callback_endpoint, settle_after_callback
from app.checkout import PAYMENT_STATUS_DOCUMENT, checkout_routes, checkout_url
from app.ebarimt_worker import run_ebarimt_worker
from app.graphql_observer import GraphQLObserver, OperationNames
from app.graphql_view import QPayGraphQL
from app.http_observer import ObservedHTTP
from app.intent_gauges import run_intent_gauges
from app.ledger_sweeper import run_ledger_sweeper
from app.logging_setup import configure_logging
from app.metrics_route import metrics_route
from app.poller import CallbackHealth, run_poller
from app.ratelimit import SlidingWindowLimiter
from app.request_context import in_own_run
from app.settings import ConfigError, Settings, load_settings
from app.supervision import Supervisor
from app.tracing import (
    NO_SPANS,
    Tracing,
    trace_qpay_calls,
    traced_units_of_work,
    tracing_for,
)
from app.trusted_documents import ManifestError, TrustedDocuments
from app.watching import run_watch_keeper
from app.workers import shared_parts_problem
from domain.ports import UnitOfWorkFactory
from graph.context import Services
from graph.schema import build_schema
from qpay.simulator import QPaySimulator

logger = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 2.0
BACKGROUND_GRACE_SECONDS = 5.0
# Abuse brakes (per process): a person checks a payment a few times a minute;
# QPay sends a handful of callbacks; staff do not mistype tokens 30 times.
CHECKS_PER_INTENT_PER_MINUTE = 30
FAILED_CALLBACKS_PER_MINUTE = 30
FAILED_LOGINS_PER_MINUTE = 30


@dataclass
class Runtime:
    """What the lifespan starts and the shutdown drains, in order."""

    container: Container
    view: QPayGraphQL
    settler: CallbackSettler
    health: CallbackHealth
    receipts_wake: asyncio.Event
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    supervisor: Supervisor | None = None
    draining: bool = False

    async def drain(self) -> None:
        """SIGTERM: stop claiming work, finish in-flight settlements, close
        websockets with 1001. Pools close afterwards, in the lifespan."""
        if self.draining:
            return
        self.draining = True
        self.stop.set()
        if self.supervisor is not None:
            # A poll or receipt pass finishes its step, unless it is stuck on a
            # slow QPay: a check in flight is only a read, safe to abandon
            # (its lease lapses and another process takes the intent).
            await self.supervisor.stop(BACKGROUND_GRACE_SECONDS)
        await self.settler.drain()
        await self.view.close_sockets()


def trusted_documents(settings: Settings) -> TrustedDocuments:
    """GRAPHQL_TRUSTED_DOCUMENTS' allow-list and the checkout page's own
    document, or off (any document runs) when the setting is unset."""
    path = settings.graphql_trusted_documents
    if path is None:
        return TrustedDocuments.off()
    try:
        return TrustedDocuments.load(path, shipped=[PAYMENT_STATUS_DOCUMENT])
    except ManifestError as error:
        raise ConfigError(f"GRAPHQL_TRUSTED_DOCUMENTS: {error}") from None


def create_app(
    settings: Settings,
    *,
    qpay_transport: httpx.AsyncBaseTransport | None = None,
    simulator: QPaySimulator | None = None,
    background: bool = True,
    tracing: Tracing | None = None,
) -> Starlette:
    """The application for `settings` (which must carry a DATABASE_URL).

    `qpay_transport`/`simulator` let tests put QPay where they want it;
    `background=False` skips the poller and e-Barimt worker (tests drive them);
    `tracing` replaces the one the settings ask for (app/tracing.py).
    """
    container = build_container(
        settings, qpay_transport=qpay_transport, simulator=simulator
    )
    tracing = tracing or tracing_for(settings, instance=container.instance)
    spans = tracing.spans if tracing is not None else NO_SPANS
    uow = container.uow
    # Reads and one-row writes on the payment path, without a transaction;
    # traced, everything goes through the traced units of work.
    single_statements: UnitOfWorkFactory = container.autocommit_uow
    if tracing is not None:
        uow = traced_units_of_work(container.engine, container.transport, spans)
        single_statements = uow
        trace_qpay_calls(container.metrics, spans)
    services = Services(
        uow=uow,
        read_uow=single_statements,
        gateway=container.gateway,
        clock=container.clock,
        qpay_policy=container.qpay_policy,
        hub=container.hub,
        poll_interval_seconds=settings.qpay_poll_interval_seconds,
        checkout_url=lambda intent_id, secret: checkout_url(
            settings.public_base_url, intent_id, secret
        ),
        check_limiter=SlidingWindowLimiter(CHECKS_PER_INTENT_PER_MINUTE, 60),
        clinic_time_zone=settings.clinic_time_zone,
    )
    schema = build_schema(production=settings.is_production)
    names = OperationNames()
    # Last, so it sees errors before MaskErrors masks them (production).
    schema.extensions = (
        *schema.extensions,
        lambda: GraphQLObserver(metrics=container.metrics, names=names, spans=spans),
    )
    view = QPayGraphQL(
        schema,
        services=services,
        tokens=container.tokens,
        production=settings.is_production,
        allowed_origins=settings.resolved_allowed_origins,
        login_failures=SlidingWindowLimiter(FAILED_LOGINS_PER_MINUTE, 60),
        max_sockets_per_address=settings.max_websockets_per_address,
        idle_socket_seconds=settings.websocket_idle_seconds,
        trusted_documents=trusted_documents(settings),
    )

    health = CallbackHealth()
    receipts_wake = asyncio.Event()
    settler = CallbackSettler(
        uow=single_statements,
        settle=settle_after_callback(
            uow=uow,
            gateway=container.gateway,
            clock=container.clock,
            metrics=container.metrics,
            health=health,
            receipts_wake=receipts_wake,
            spans=spans,
        ),
    )
    runtime = Runtime(
        container=container,
        view=view,
        settler=settler,
        health=health,
        receipts_wake=receipts_wake,
    )

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        reasons: list[str] = []
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                async with container.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except Exception as error:  # any failure means "not ready"
            reasons.append(f"database unreachable ({type(error).__name__})")
        if not container.hub.connected.is_set():
            reasons.append("event transport disconnected")
        if not container.transport.listening:
            reasons.append("event listener stopped")
        if runtime.supervisor is not None:
            reasons.extend(
                f"background task {name} is down" for name in runtime.supervisor.down()
            )
        if runtime.draining:
            reasons.append("shutting down")
        if reasons:
            return JSONResponse({"ready": False, "reasons": reasons}, status_code=503)
        return JSONResponse({"ready": True})

    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        metrics_route(settings, container.metrics),
        Route("/graphql", view, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", view),
        Route(
            "/qpay/callback/{intent_id}",
            callback_endpoint(
                settler=settler,
                clock=container.clock,
                metrics=container.metrics,
                failures=SlidingWindowLimiter(FAILED_CALLBACKS_PER_MINUTE, 60),
                spans=spans,
            ),
            methods=["GET", "POST"],
        ),
    ]
    simulate = container.simulator is not None and not settings.is_production
    if simulate and container.simulator is not None:
        # Development only: the built-in QPay and its /_sim control endpoints.
        routes.append(Mount("/qpay-sim", app=container.simulator.app))
    routes += checkout_routes(container, simulate=simulate)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await container.transport.start()
        supervisor = Supervisor(runtime.stop)
        runtime.supervisor = supervisor
        if background:
            stop = runtime.stop
            loops: dict[str, Callable[[], Awaitable[None]]] = {
                "poller": lambda: run_poller(container, stop, runtime.health),
                "ebarimt-worker": lambda: run_ebarimt_worker(
                    container, stop, runtime.receipts_wake
                ),
                "watch-keeper": lambda: run_watch_keeper(container, stop),
                "ledger-sweeper": lambda: run_ledger_sweeper(container, stop),
                "intent-gauges": lambda: run_intent_gauges(
                    container.engine,
                    container.metrics,
                    stop,
                    settings.metrics_refresh_seconds,
                ),
            }
            for name, loop in loops.items():
                # Each loop logs with its own task name and run id.
                supervisor.start(name, in_own_run(name, loop))
        try:
            yield
        finally:
            await runtime.drain()
            await close_container(container)
            if tracing is not None:
                # Flushes the spans still queued (a blocking export).
                await asyncio.to_thread(tracing.shutdown)

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            # Outermost: the request id and the HTTP metrics see every answer.
            Middleware(ObservedHTTP, metrics=container.metrics),
            Middleware(
                CORSMiddleware,
                allow_origins=settings.resolved_allowed_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type"],
            ),
        ],
    )
    app.state.runtime = runtime
    app.state.container = container
    return app


def app_factory() -> Starlette:
    """The app from the environment, for ASGI servers that import it:
    `uvicorn --factory app.main:app_factory`, or gunicorn with the
    uvicorn-worker package (`gunicorn 'app.main:app_factory()' -k
    uvicorn_worker.UvicornWorker`; uvicorn.workers is deprecated).
    DATABASE_URL is required (no embedded PostgreSQL here) and migrations are
    not run: run `qpay-graph migrate` first. `qpay-graph serve --workers N`
    is the same with a drain on SIGTERM (app/workers.py)."""
    try:
        settings = load_settings()
    except ConfigError as error:
        _refuse(str(error))
    if settings.database_url is None:
        _refuse("DATABASE_URL: required when the app is imported by a server")
    problem = shared_parts_problem(settings)
    if problem is not None:
        # A server may start several workers, each calling this factory.
        _refuse(f"app.main:app_factory {problem}")
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)


def _refuse(message: str) -> NoReturn:
    """One line, not a traceback, and exit 3: the status uvicorn and gunicorn
    give a worker that cannot start, on which gunicorn stops instead of
    starting the worker again (uvicorn's --workers supervisor retries)."""
    sys.stderr.write(f"qpay-graph: {message}\n")
    raise SystemExit(STARTUP_FAILURE)
