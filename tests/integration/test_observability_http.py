"""What an operator sees of a payment: /metrics after it, request ids and
intent ids on its JSON log lines, gauges of stuck money, bounded labels."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.intent_gauges import refresh_intent_gauges
from app.logging_setup import make_handler
from tests import db
from tests.harness import Harness
from tests.integration.gql import new_intent, new_invoice, wait_for_intent

pytestmark = [pytest.mark.db, pytest.mark.anyio]

Samples = list[tuple[str, dict[str, str], float]]


async def scrape(harness: Harness) -> Samples:
    response = await harness.client.get("/metrics")
    assert response.status_code == 200
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]


def value(samples: Samples, metric: str, /, **labels: str) -> float | None:
    for sample_name, sample_labels, sample_value in samples:
        if sample_name == metric and sample_labels == labels:
            return sample_value
    return None


def labels_of(samples: Samples, name: str) -> list[dict[str, str]]:
    return [labels for sample_name, labels, _ in samples if sample_name == name]


async def paid_by_callback(harness: Harness, request_id: str) -> dict[str, Any]:
    """A patient pays; QPay's callback (ours to send, with an X-Request-ID)
    settles the intent. Returns the intent as created."""
    intent: dict[str, Any] = (await new_intent(harness, await new_invoice(harness)))[
        "intent"
    ]
    harness.simulator.set_callbacks(drop=True)
    payment_id = harness.simulator.pay(intent["qpayInvoiceId"])
    callback_url = harness.simulator.state.invoices[
        intent["qpayInvoiceId"]
    ].callback_url
    token = parse_qs(urlsplit(callback_url).query)["token"][0]

    response = await harness.client.get(
        f"/qpay/callback/{intent['id']}",
        params={"token": token, "qpay_payment_id": payment_id},
        headers={"X-Request-ID": request_id},
    )

    assert response.status_code == 200
    assert response.headers["x-request-id"] == request_id
    row = await wait_for_intent(harness, intent["id"], lambda r: r["status"] == "PAID")
    assert row["status"] == "PAID"
    return intent


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the service writes with LOG_FORMAT=json, from now on."""
    stream = io.StringIO()
    handler = make_handler("json", stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


async def test_json_log_lines_of_a_callback_carry_its_request_and_intent_ids(
    harness: Harness, json_log: io.StringIO
) -> None:
    intent = await paid_by_callback(harness, "cb-req-1")

    entries = [json.loads(line) for line in json_log.getvalue().splitlines()]
    ours = [e for e in entries if e.get("request_id") == "cb-req-1"]

    accepted = [e for e in ours if e["message"].startswith("QPay callback accepted")]
    settled = [e for e in ours if e["message"].startswith("settlement ")]
    assert accepted and accepted[0]["intent_id"] == intent["id"]
    assert accepted[0]["qpay_payment_id"].isdigit()
    assert settled and settled[0]["intent_id"] == intent["id"]
    assert settled[0]["invoice_id"] == intent["invoiceId"]
    assert all(e["intent_id"] == intent["id"] for e in ours if "intent_id" in e)
    assert {e["pid"] for e in ours} == {os.getpid()}


async def test_metrics_show_the_payment_when_scraped_after_it(
    harness: Harness,
) -> None:
    intent = await paid_by_callback(harness, "cb-req-2")
    await harness.gql("query WhoAmI { __typename }")
    await refresh_intent_gauges(
        harness.app.state.container.engine, harness.app.state.container.metrics
    )

    samples = await scrape(harness)

    count = "http_request_duration_seconds_count"
    assert value(
        samples, count, method="GET", route="/qpay/callback/{intent_id}", status="200"
    )
    assert value(samples, count, method="POST", route="/graphql", status="200")
    assert not any(intent["id"] in str(labels) for _, labels, _ in samples)
    operations = "graphql_operations_total"
    assert value(samples, operations, type="query", name="WhoAmI", outcome="ok") == 1
    assert value(
        samples, operations, type="mutation", name="CreateQPayInvoice", outcome="ok"
    )
    assert value(
        samples,
        "graphql_operation_duration_seconds_count",
        type="mutation",
        name="CreateInvoice",
    )
    assert value(samples, "qpay_intents", status="PAID", environment="MOCK") == 1
    assert value(samples, "qpay_intents", status="PENDING", environment="MOCK") == 0
    assert (
        value(samples, "qpay_intent_oldest_needs_review_seconds", environment="MOCK")
        == 0
    )
    assert value(samples, "qpay_intent_stats_refreshed_timestamp_seconds")
    assert value(samples, "process_resident_memory_bytes")
    assert value(samples, "process_cpu_seconds_total") is not None
    assert labels_of(samples, "python_info")


async def test_gauges_show_how_long_money_is_stuck_when_intents_wait(
    harness: Harness,
) -> None:
    review = (await new_intent(harness, await new_invoice(harness)))["intent"]
    overdue = (await new_intent(harness, await new_invoice(harness)))["intent"]
    url = harness.app.state.container.settings.database_url
    await db.execute(
        url,
        "UPDATE qpay_intents SET status = 'NEEDS_REVIEW', "
        "updated_at = now() - interval '2 hours' WHERE id = $1::uuid",
        review["id"],
    )
    await db.execute(
        url,
        "UPDATE qpay_intents SET expires_at = now() - interval '10 minutes' "
        "WHERE id = $1::uuid",
        overdue["id"],
    )
    container = harness.app.state.container

    await refresh_intent_gauges(container.engine, container.metrics)
    samples = await scrape(harness)

    waiting = value(
        samples, "qpay_intent_oldest_needs_review_seconds", environment="MOCK"
    )
    late = value(
        samples, "qpay_intent_oldest_overdue_pending_seconds", environment="MOCK"
    )
    assert waiting is not None and 7200 <= waiting < 7300
    assert late is not None and 600 <= late < 700
    assert (
        value(samples, "qpay_intents", status="NEEDS_REVIEW", environment="MOCK") == 1
    )
    assert value(samples, "qpay_intents", status="PENDING", environment="MOCK") == 1
    assert (
        value(samples, "qpay_intent_oldest_overdue_pending_seconds", environment="LIVE")
        == 0
    )


async def test_distinct_operation_names_add_at_most_the_cap_when_sent(
    harness: Harness,
) -> None:
    # 300 through the whole stack (1,000 against OperationNames alone:
    # tests/unit/app/test_graphql_observer.py).
    for n in range(300):
        await harness.gql(f"query Probe{n}x{n * 7919 % 1000} {{ __typename }}")

    samples = await scrape(harness)

    names = {
        labels["name"]
        for labels in labels_of(samples, "graphql_operations_total")
        if labels["type"] == "query"
    }
    assert len(names) <= 101
    assert "other" in names
    assert (
        value(
            samples,
            "graphql_operations_total",
            type="query",
            name="other",
            outcome="ok",
        )
        == 200
    )
