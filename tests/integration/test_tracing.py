"""Tracing on (the `otel` extra, an in-memory exporter): one payment through
QPay's callback is one trace, callback -> settlement -> QPay check and the
settling transaction -> commit -> push, each span the child of the one before."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind

from app.main import create_app
from app.otel import OtelTracing
from app.settings import Settings
from app.staff_tokens import StaffTokens
from qpay.simulator import QPaySimulator
from tests.conftest import TEST_JWT_SECRET, SettingsFactory
from tests.harness import Harness, LateApp
from tests.integration.gql import new_intent, new_invoice, wait_for_intent

pytestmark = [pytest.mark.db, pytest.mark.anyio]


@contextlib.asynccontextmanager
async def traced_app(
    settings: Settings, exporter: InMemorySpanExporter
) -> AsyncIterator[Harness]:
    """tests/harness.py's running_app, with tracing to `exporter`."""
    late = LateApp()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=late)) as to_app:
        simulator = QPaySimulator(callback_http=to_app)
        app = create_app(
            settings,
            simulator=simulator,
            background=False,
            tracing=OtelTracing.exporting(exporter, batch=False),
        )
        late.app = app
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test"
            ) as client,
        ):
            yield Harness(
                app=app,
                client=client,
                simulator=simulator,
                token=StaffTokens(TEST_JWT_SECRET).issue(subject="test-staff"),
            )
        await simulator.aclose()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def traced(
    clean_db: str, make_settings: SettingsFactory, exporter: InMemorySpanExporter
) -> AsyncIterator[Harness]:
    async with traced_app(make_settings(database_url=clean_db), exporter) as harness:
        yield harness


def one(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, [span.name for span in spans]
    return found[0]


def span_id(span: ReadableSpan) -> int:
    context = span.get_span_context()
    assert context is not None
    return context.span_id


def trace_id(span: ReadableSpan) -> int:
    context = span.get_span_context()
    assert context is not None
    return context.trace_id


def children(spans: Sequence[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [
        span
        for span in spans
        if span.parent is not None and span.parent.span_id == span_id(parent)
    ]


def child(
    spans: Sequence[ReadableSpan], parent: ReadableSpan, name: str
) -> ReadableSpan:
    return one(children(spans, parent), name)


async def test_a_callback_payment_is_one_trace_when_tracing_is_on(
    traced: Harness, exporter: InMemorySpanExporter
) -> None:
    intent = (await new_intent(traced, await new_invoice(traced)))["intent"]
    traced.simulator.set_callbacks(drop=True)
    payment_id = traced.simulator.pay(intent["qpayInvoiceId"])
    callback_url = traced.simulator.state.invoices[intent["qpayInvoiceId"]].callback_url
    token = parse_qs(urlsplit(callback_url).query)["token"][0]
    exporter.clear()

    await traced.client.get(
        f"/qpay/callback/{intent['id']}",
        params={"token": token, "qpay_payment_id": payment_id},
    )
    await wait_for_intent(traced, intent["id"], lambda row: row["status"] == "PAID")
    await traced.app.state.runtime.settler.drain()

    spans = exporter.get_finished_spans()
    callback = one(spans, "qpay.callback")
    settle = child(spans, callback, "qpay.settle")
    check = child(spans, settle, "qpay.payment_check")
    settling = [
        transaction
        for transaction in children(spans, settle)
        if transaction.name == "db.transaction"
        and any(c.name == "db.commit" for c in children(spans, transaction))
    ]
    assert len(settling) == 1
    commit = child(spans, settling[0], "db.commit")
    push = child(spans, commit, "events.push")
    assert callback.parent is None and callback.kind is SpanKind.SERVER
    assert check.kind is SpanKind.CLIENT
    assert check.attributes is not None and check.attributes["qpay.outcome"] == "ok"
    assert push.attributes is not None and push.attributes["events.how"] == "publish"
    assert len({trace_id(span) for span in spans}) == 1
    assert check.start_time is not None and settle.start_time is not None
    assert check.start_time >= settle.start_time


async def test_a_graphql_mutation_is_a_span_with_its_qpay_call_when_traced(
    traced: Harness, exporter: InMemorySpanExporter
) -> None:
    invoice_id = await new_invoice(traced)
    exporter.clear()

    await new_intent(traced, invoice_id)

    spans = exporter.get_finished_spans()
    operation = one(spans, "graphql mutation CreateQPayInvoice")
    assert operation.attributes is not None
    assert operation.attributes["graphql.outcome"] == "ok"
    assert child(spans, operation, "qpay.invoice_create").kind is SpanKind.CLIENT
    assert any(span.name == "db.transaction" for span in children(spans, operation))
