"""The tracing switch: off by default (and then OpenTelemetry is never even
imported), on with an OTLP endpoint or OTEL_ENABLED=true, and refused at start
in one line when it is on without the `otel` extra."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from app.otel import OtelTracing
from app.settings import ConfigError, load_settings
from app.tracing import tracing_for

ENDPOINT = "http://127.0.0.1:4318"
# A child Python that sees no OTEL_* variable of ours.
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  # our own interpreter and code
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**CLEAN_ENV, **env},
    )


@pytest.mark.parametrize(
    ("values", "enabled"),
    [
        ({}, False),
        ({"otel_exporter_otlp_endpoint": ENDPOINT}, True),
        ({"otel_exporter_otlp_traces_endpoint": f"{ENDPOINT}/v1/traces"}, True),
        ({"otel_enabled": True}, True),
        ({"otel_enabled": False, "otel_exporter_otlp_endpoint": ENDPOINT}, False),
        ({"otel_sdk_disabled": True, "otel_enabled": True}, False),
    ],
)
def test_tracing_is_on_only_when_an_endpoint_or_the_switch_says_so(
    values: dict[str, object], enabled: bool
) -> None:
    assert load_settings(_env_file=None, **values).tracing_enabled is enabled


def test_spans_go_to_the_otlp_traces_path_when_only_the_base_endpoint_is_set() -> None:
    base = load_settings(_env_file=None, otel_exporter_otlp_endpoint=f"{ENDPOINT}/")
    exact = load_settings(
        _env_file=None,
        otel_exporter_otlp_endpoint=ENDPOINT,
        otel_exporter_otlp_traces_endpoint="https://collector.internal/traces",
    )

    assert base.otel_traces_endpoint == f"{ENDPOINT}/v1/traces"
    assert exact.otel_traces_endpoint == "https://collector.internal/traces"


def test_an_endpoint_that_is_not_a_url_is_refused_when_configured() -> None:
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_ENDPOINT: must be"):
        load_settings(_env_file=None, otel_exporter_otlp_endpoint="collector:4318")


def test_tracing_is_built_without_reaching_the_collector_when_on() -> None:
    settings = load_settings(_env_file=None, otel_exporter_otlp_endpoint=ENDPOINT)

    tracing = tracing_for(settings, instance="host:1:abc")

    assert isinstance(tracing, OtelTracing)
    tracing.shutdown()  # nothing to export: no connection is made
    assert tracing_for(load_settings(_env_file=None), instance="x") is None


def test_log_lines_get_the_trace_id_of_the_current_span_when_traced() -> None:
    exporter = InMemorySpanExporter()
    spans = OtelTracing.exporting(exporter, batch=False).spans

    with spans.span("outer", server=True) as span:
        span.set_attribute("probe", True)
        inside = spans.trace_id()
    spans.finished("qpay.payment_check", 0.25, ok=False, attributes={"a": "b"})

    finished = {span.name: span for span in exporter.get_finished_spans()}
    outer = finished["outer"].get_span_context()
    assert outer is not None
    check = finished["qpay.payment_check"]
    assert inside == f"{outer.trace_id:032x}"
    assert spans.trace_id() is None
    assert check.end_time is not None and check.start_time is not None
    assert check.end_time - check.start_time == 250_000_000
    assert not check.status.is_ok


def test_opentelemetry_is_never_imported_when_tracing_is_off() -> None:
    result = python(
        """
        import asyncio, sys
        import httpx
        from app.main import create_app
        from app.settings import load_settings
        from app.staff_tokens import StaffTokens

        secret = "s" * 40
        app = create_app(load_settings(
            _env_file=None,
            database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none",
            events_url="memory://",
            qpay_env="mock",
            auth_jwt_secret=secret,
        ), background=False)

        async def requests():
            token = StaffTokens(secret).issue()
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test"
            ) as client:
                await client.post(
                    "/graphql",
                    json={"query": "query Probe { __typename }"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                await client.get("/nowhere")
                await client.get("/metrics")

        asyncio.run(requests())
        loaded = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
        print(loaded)
        sys.exit(1 if loaded else 0)
        """
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_start_is_refused_in_one_line_when_tracing_is_on_without_the_extra() -> None:
    result = python(
        """
        import sys
        from importlib.abc import MetaPathFinder

        class WithoutOtel(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "opentelemetry":
                    raise ModuleNotFoundError(f"No module named {name!r}")
                return None

        sys.meta_path.insert(0, WithoutOtel())
        from app.cli import main
        main(["migrate"])
        """,
        OTEL_EXPORTER_OTLP_ENDPOINT=ENDPOINT,
        DATABASE_URL="postgresql+asyncpg://nobody@127.0.0.1:1/none",
    )

    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1
    assert lines[0].startswith("configuration error: OTEL_ENABLED: ")
    assert "pip install 'qpay-graph[otel]'" in lines[0]
