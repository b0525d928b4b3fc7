"""Prometheus metrics, one registry per app (no global state)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

QPAY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.qpay_calls = Counter(
            "qpay_calls",
            "HTTP calls to QPay by endpoint and outcome",
            ["endpoint", "outcome"],
            registry=self.registry,
        )
        self.qpay_seconds = Histogram(
            "qpay_call_seconds",
            "Latency of HTTP calls to QPay",
            ["endpoint"],
            buckets=QPAY_BUCKETS,
            registry=self.registry,
        )
        self.callbacks = Counter(
            "qpay_callbacks",
            "QPay callbacks received by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.settlements = Counter(
            "qpay_settlements",
            "settle_qpay_intent runs by source and outcome",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.active_subscriptions = Gauge(
            "graphql_active_subscriptions",
            "paymentStatus subscriptions open in this process",
            registry=self.registry,
        )
        self.poller_lag = Gauge(
            "qpay_poller_lag_seconds",
            "How late the most overdue claimed intent was in the last poll",
            registry=self.registry,
        )
        self.poller_checks = Counter(
            "qpay_poller_checks",
            "Intents checked by the poller, by result",
            ["result"],
            registry=self.registry,
        )
        self.ledger_lag = Gauge(
            "qpay_ledger_sweep_lag_seconds",
            "How far behind now QPay's payment list is known to match ours",
            registry=self.registry,
        )
        self.ledger_found = Counter(
            "qpay_ledger_payments_found",
            "Payments QPay held that the ledger sweep found missing and recorded",
            registry=self.registry,
        )
        self.ledger_unmatched = Gauge(
            "qpay_ledger_unmatched_payments",
            "Payments on our invoice code that match no intent, not yet resolved",
            registry=self.registry,
        )
        self.ledger_flags = Gauge(
            "qpay_ledger_open_flags",
            "Ledger findings waiting for a person, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.ebarimt = Counter(
            "ebarimt_receipts",
            "e-Barimt issue attempts by outcome",
            ["outcome"],
            registry=self.registry,
        )

    def observe_qpay(self, endpoint: str, outcome: str, seconds: float) -> None:
        self.qpay_calls.labels(endpoint, outcome).inc()
        self.qpay_seconds.labels(endpoint).observe(seconds)

    def track_subscriptions(self, count: Callable[[], int]) -> None:
        self.active_subscriptions.set_function(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
