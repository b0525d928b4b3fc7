"""The OpenTelemetry side of app/tracing.py: imported only with tracing on.

Needs the `otel` extra (pip install 'qpay-graph[otel]'). The tracer provider
is the app's own, never installed as the global one. Configuration follows
OpenTelemetry's variables: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is) or
OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces), OTEL_SERVICE_NAME; the SDK itself
reads the others from the process environment (OTEL_EXPORTER_OTLP_HEADERS,
OTEL_TRACES_SAMPLER, OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_*, ...).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import SpanKind, Status, StatusCode

from app.settings import Settings
from app.tracing import Attributes, Span

TRACER_NAME = "qpay_graph"


class OtelSpans:
    """Spans of one tracer (see app/tracing.py's Spans)."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    @contextlib.contextmanager
    def span(
        self, name: str, *, server: bool = False, attributes: Attributes | None = None
    ) -> Iterator[Span]:
        # Exceptions set the span's status (their type and message) but are
        # not recorded with their stack: spans leave the process.
        with self._tracer.start_as_current_span(
            name,
            kind=SpanKind.SERVER if server else SpanKind.INTERNAL,
            attributes=attributes,
            record_exception=False,
        ) as span:
            yield span

    def finished(
        self, name: str, seconds: float, *, ok: bool, attributes: Attributes
    ) -> None:
        end = time.time_ns()
        span = self._tracer.start_span(
            name,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=end - int(seconds * 1e9),
        )
        if not ok:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end)

    def trace_id(self) -> str | None:
        context = trace.get_current_span().get_span_context()
        return trace.format_trace_id(context.trace_id) if context.is_valid else None


class OtelTracing:
    """A TracerProvider of the app's own and its spans."""

    def __init__(self, provider: TracerProvider) -> None:
        self._provider = provider
        self._spans = OtelSpans(provider.get_tracer(TRACER_NAME))

    @classmethod
    def exporting(
        cls,
        exporter: SpanExporter,
        *,
        service_name: str = "qpay-graph",
        instance: str = "",
        batch: bool = True,
    ) -> OtelTracing:
        """Spans go to `exporter`, in batches from a background thread (or
        one by one as they end, `batch=False`: tests)."""
        attributes = {SERVICE_NAME: service_name}
        if instance:
            attributes[SERVICE_INSTANCE_ID] = instance
        provider = TracerProvider(
            resource=Resource.create(attributes), shutdown_on_exit=False
        )
        processor = (
            BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        )
        provider.add_span_processor(processor)
        return cls(provider)

    @property
    def spans(self) -> OtelSpans:
        return self._spans

    def shutdown(self) -> None:
        """Export what is left and stop (blocks up to the exporter's timeout)."""
        self._provider.shutdown()


def otlp_tracing(settings: Settings, *, instance: str) -> OtelTracing:
    """Tracing to the OTLP/HTTP endpoint of `settings` (the SDK's default,
    http://localhost:4318/v1/traces, when only OTEL_ENABLED=true is set)."""
    return OtelTracing.exporting(
        OTLPSpanExporter(endpoint=settings.otel_traces_endpoint),
        service_name=settings.otel_service_name,
        instance=instance,
    )
