"""Tracing: an optional OpenTelemetry extra, off by default.

The code that makes spans sees only `Spans` (below); with tracing off it is
NO_SPANS, whose spans cost a null context manager, and OpenTelemetry is never
imported. With tracing on (settings.tracing_enabled: OTEL_EXPORTER_OTLP_ENDPOINT
or OTEL_ENABLED=true, and not OTEL_ENABLED=false or OTEL_SDK_DISABLED=true),
app/otel.py builds a tracer provider of this app's own (the global one is left
alone) exporting over OTLP/HTTP, and a callback's trace reads:

    qpay.callback                 the request (SERVER)
      db.transaction              the token check, the stored request
      qpay.settle                 the settlement, in the background
        qpay.payment_check        the QPay call (CLIENT; one per attempt)
        db.transaction            the settling transaction
          db.commit
            events.push           pg_notify in the transaction, or the
                                  Redis/memory publish after COMMIT

GraphQL operations get a `graphql <type> <name>` span with the same children.
The poller, the e-Barimt worker and the ledger sweep are not traced.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack
from types import TracebackType
from typing import Protocol, Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.metrics import Metrics
from app.settings import Settings
from persistence.event_hub import NO_STATES, PostgresTransport, Transport
from persistence.sql import Pending
from persistence.unit_of_work import (
    AnnouncedStates,
    ChangePublisher,
    IntentChange,
    SqlAlchemyUnitOfWork,
)

AttributeValue = str | bool | int | float
Attributes = Mapping[str, AttributeValue]


class Span(Protocol):
    """What our code does to a span (an OpenTelemetry span is one)."""

    def update_name(self, name: str) -> None: ...

    def set_attribute(self, key: str, value: AttributeValue) -> None: ...


class Spans(Protocol):
    """Where spans come from: NO_SPANS, or app/otel.py's OtelSpans."""

    def span(
        self, name: str, *, server: bool = False, attributes: Attributes | None = None
    ) -> AbstractContextManager[Span]:
        """A span, current for the block (child of the current one)."""
        ...

    def finished(
        self, name: str, seconds: float, *, ok: bool, attributes: Attributes
    ) -> None:
        """A CLIENT span that ended just now and lasted `seconds`."""
        ...

    def trace_id(self) -> str | None:
        """The current trace's id (hex), for the log lines."""
        ...


class _NoSpan:
    def update_name(self, name: str) -> None:
        return None

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        return None


class _NoSpans:
    _span = _NoSpan()

    def span(
        self, name: str, *, server: bool = False, attributes: Attributes | None = None
    ) -> AbstractContextManager[Span]:
        return contextlib.nullcontext(self._span)

    def finished(
        self, name: str, seconds: float, *, ok: bool, attributes: Attributes
    ) -> None:
        return None

    def trace_id(self) -> str | None:
        return None


NO_SPANS: Spans = _NoSpans()


class Tracing(Protocol):
    """A tracer provider of the app's own, shut down (flushed) with the app."""

    @property
    def spans(self) -> Spans: ...

    def shutdown(self) -> None: ...


def tracing_for(settings: Settings, *, instance: str) -> Tracing | None:
    """The OTLP tracing `settings` ask for, or None when tracing is off
    (without importing OpenTelemetry). Settings validation has already
    refused tracing on without the `otel` extra."""
    if not settings.tracing_enabled:
        return None
    from app.otel import otlp_tracing  # the optional extra, only when on

    return otlp_tracing(settings, instance=instance)


def trace_qpay_calls(metrics: Metrics, spans: Spans) -> None:
    """A `qpay.<endpoint>` span per QPay HTTP attempt, from the calls the
    QPay client reports to the metrics (qpay/ itself knows no tracing)."""

    def listener(endpoint: str, outcome: str, seconds: float) -> None:
        spans.finished(
            f"qpay.{endpoint}",
            seconds,
            ok=outcome == "ok",
            attributes={"qpay.endpoint": endpoint, "qpay.outcome": outcome},
        )

    metrics.on_qpay_call(listener)


class TracedPublisher:
    """The event transport with an `events.push` span around the phase that
    pushes: pg_notify inside the transaction, or the publish after COMMIT."""

    def __init__(
        self, inner: ChangePublisher, spans: Spans, *, in_transaction: bool
    ) -> None:
        self._inner = inner
        self._spans = spans
        self._in_transaction = in_transaction

    async def in_transaction(
        self,
        connection: AsyncConnection,
        changes: Sequence[IntentChange],
        also: Pending | None = None,
        states: AnnouncedStates = NO_STATES,
    ) -> None:
        if not self._in_transaction:
            await self._inner.in_transaction(connection, changes, also, states)
            return
        with self._spans.span("events.push", attributes=_pushed(changes, "notify")):
            await self._inner.in_transaction(connection, changes, also, states)

    async def after_commit(
        self, changes: Sequence[IntentChange], states: AnnouncedStates = NO_STATES
    ) -> None:
        if self._in_transaction:
            await self._inner.after_commit(changes, states)
            return
        with self._spans.span("events.push", attributes=_pushed(changes, "publish")):
            await self._inner.after_commit(changes, states)


def _pushed(changes: Sequence[IntentChange], how: str) -> Attributes:
    return {"events.changes": len(changes), "events.how": how}


class TracedUnitOfWork(SqlAlchemyUnitOfWork):
    """The unit of work with a `db.transaction` span from `async with` to its
    end, and a `db.commit` span around commit (the push nests in it)."""

    def __init__(
        self, engine: AsyncEngine, publisher: ChangePublisher | None, spans: Spans
    ) -> None:
        super().__init__(engine, publisher)
        self._spans = spans
        self._span_scope: ExitStack | None = None

    async def __aenter__(self) -> Self:
        scope = ExitStack()
        scope.enter_context(self._spans.span("db.transaction"))
        self._span_scope = scope
        try:
            return await super().__aenter__()
        except BaseException as error:
            self._span_scope = None
            scope.__exit__(type(error), error, error.__traceback__)
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        scope, self._span_scope = self._span_scope, None
        try:
            await super().__aexit__(exc_type, exc, tb)
        finally:
            if scope is not None:
                scope.__exit__(exc_type, exc, tb)

    async def commit(self) -> None:
        with self._spans.span("db.commit"):
            await super().commit()


def traced_units_of_work(
    engine: AsyncEngine, transport: Transport, spans: Spans
) -> Callable[[], SqlAlchemyUnitOfWork]:
    """A UnitOfWorkFactory whose units of work make spans."""
    publisher = TracedPublisher(
        transport, spans, in_transaction=isinstance(transport, PostgresTransport)
    )
    return lambda: TracedUnitOfWork(engine, publisher, spans)
