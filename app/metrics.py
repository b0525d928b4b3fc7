"""Prometheus metrics, one registry per app (no global state).

Every label value is bounded: HTTP routes are templates (app/http_observer.py),
GraphQL operation names pass app/graphql_metrics.py's OperationNames, and the
rest are fixed sets (endpoints, outcomes, statuses, environments). The intent
gauges are database-wide figures read by every process (app/intent_gauges.py):
aggregate them across instances with max(), not sum().
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

QPAY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20)
# Our own answers: a callback or a settleInvoice takes milliseconds; a
# GraphQL operation that calls QPay up to a QPay timeout.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

QPayListener = Callable[[str, str, float], None]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # process_* (CPU, memory, file descriptors, start time), python_info
        # and python_gc_*, as the default registry would have them.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self._qpay_listeners: list[QPayListener] = []
        self.http_seconds = Histogram(
            "http_request_duration_seconds",
            "HTTP requests by method, route template and status (its _count "
            "is the request count); websockets are not counted",
            ["method", "route", "status"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.graphql_operations = Counter(
            "graphql_operations",
            "GraphQL operations by type, name and outcome (ok, user_error, error)",
            ["type", "name", "outcome"],
            registry=self.registry,
        )
        self.graphql_seconds = Histogram(
            "graphql_operation_duration_seconds",
            "Latency of GraphQL queries and mutations (not subscriptions)",
            ["type", "name"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.intents = Gauge(
            "qpay_intents",
            "QPay intents by status and QPay environment (whole database)",
            ["status", "environment"],
            multiprocess_mode="mostrecent",
            registry=self.registry,
        )
        self.oldest_review = Gauge(
            "qpay_intent_oldest_needs_review_seconds",
            "Time since the last change of the oldest intent in NEEDS_REVIEW "
            "(0 when none waits)",
            ["environment"],
            multiprocess_mode="mostrecent",
            registry=self.registry,
        )
        self.oldest_overdue = Gauge(
            "qpay_intent_oldest_overdue_pending_seconds",
            "How long the most overdue PENDING intent has been past its "
            "expiry (0 when none; the poller expires them within seconds)",
            ["environment"],
            multiprocess_mode="mostrecent",
            registry=self.registry,
        )
        self.intent_stats_refreshed = Gauge(
            "qpay_intent_stats_refreshed_timestamp_seconds",
            "When the intent gauges were last read from the database (Unix time)",
            multiprocess_mode="max",
            registry=self.registry,
        )
        self.intent_stats_failures = Counter(
            "qpay_intent_stats_failures",
            "Failed reads of the intent gauges",
            registry=self.registry,
        )
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
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self.poller_lag = Gauge(
            "qpay_poller_lag_seconds",
            "How late the most overdue claimed intent was in the last poll",
            multiprocess_mode="livemax",
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
            multiprocess_mode="mostrecent",
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
            multiprocess_mode="mostrecent",
            registry=self.registry,
        )
        self.ledger_flags = Gauge(
            "qpay_ledger_open_flags",
            "Ledger findings waiting for a person, by kind",
            ["kind"],
            multiprocess_mode="mostrecent",
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
        for listener in self._qpay_listeners:
            listener(endpoint, outcome, seconds)

    def on_qpay_call(self, listener: QPayListener) -> None:
        """Also tell `listener` of each QPay call (tracing, app/tracing.py)."""
        self._qpay_listeners.append(listener)

    def observe_http(
        self, method: str, route: str, status: int, seconds: float
    ) -> None:
        self.http_seconds.labels(method, route, str(status)).observe(seconds)

    def observe_graphql(
        self, kind: str, name: str, outcome: str, seconds: float | None
    ) -> None:
        self.graphql_operations.labels(kind, name, outcome).inc()
        if seconds is not None:
            self.graphql_seconds.labels(kind, name).observe(seconds)

    def set_intent_stats(
        self,
        counts: Mapping[tuple[str, str], int],
        oldest_review: Mapping[str, float],
        oldest_overdue: Mapping[str, float],
    ) -> None:
        """Counts by (status, environment) and ages by environment; every
        key given is set, so a status that emptied shows 0, not its last value."""
        for (status, environment), count in counts.items():
            self.intents.labels(status, environment).set(count)
        for environment, seconds in oldest_review.items():
            self.oldest_review.labels(environment).set(seconds)
        for environment, seconds in oldest_overdue.items():
            self.oldest_overdue.labels(environment).set(seconds)
        self.intent_stats_refreshed.set(time.time())

    def track_subscriptions(self, count: Callable[[], int]) -> None:
        self.active_subscriptions.set_function(count)

    def render(self) -> bytes:
        directory = os.environ.get(MULTIPROCESS_DIR)
        if not directory:
            return generate_latest(self.registry)
        # `serve --workers N`: a scrape reaches one worker, and answers for
        # all of them (each writes its values to files in the directory).
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]  # the library's own signature lacks types
        WorkersProcessCollector(directory, registry=registry)
        PlatformCollector(registry=registry)
        return generate_latest(registry)


# Set by `serve --workers N` for its workers (prometheus_client reads it at
# import): every metric value then lives in a file there, so /metrics
# answers for the whole service whichever worker the scrape reaches.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


# Of the workers' process_* figures, these are not summed.
EARLIEST_OR_LEAST = frozenset({"process_start_time_seconds", "process_max_fds"})


def _fixed(pid: int) -> Callable[[], int]:
    return lambda: pid


class WorkersProcessCollector(Collector):
    """process_* for the whole service under `serve --workers N`: each live
    worker's figures (read from /proc, as ProcessCollector reads its own)
    summed, the earliest start time, and how many workers serve.
    prometheus_client's multiprocess mode has no process metrics of its own:
    a worker's would alternate with the worker each scrape reaches."""

    def __init__(
        self, directory: str, registry: CollectorRegistry | None = None
    ) -> None:
        self._directory = directory
        if registry is not None:
            registry.register(self)

    def workers(self) -> list[int]:
        """The live workers that have written metrics (files <kind>_<pid>.db)."""
        pids = set()
        for name in os.listdir(self._directory):
            stem, _, pid = name.removesuffix(".db").rpartition("_")
            if stem and pid.isdigit():
                pids.add(int(pid))
        return sorted(pid for pid in pids if os.path.exists(f"/proc/{pid}"))

    def collect(self) -> Iterator[Metric]:
        pids = self.workers()
        totals: dict[str, Metric] = {}
        for pid in pids:
            collector = ProcessCollector(pid=_fixed(pid), registry=None)
            for family in collector.collect():
                seen = totals.get(family.name)
                if seen is None:
                    totals[family.name] = family
                    continue
                (mine,) = family.samples
                (theirs,) = seen.samples
                if family.name in EARLIEST_OR_LEAST:
                    value = min(mine.value, theirs.value)
                else:
                    value = mine.value + theirs.value
                seen.samples[0] = theirs._replace(value=value)
        yield from totals.values()
        workers = GaugeMetricFamily(
            "qpay_graph_workers", "Worker processes serving (serve --workers N)"
        )
        workers.add_metric([], len(pids))
        yield workers
